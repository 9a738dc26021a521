import assert from "node:assert/strict";
import {
  binaryToBytes,
  bytesToBinary,
  bytesToHex,
  concatBytes,
  hexToBinary,
} from "../src/protocol/binary.ts";

Deno.test("binary strings keep every byte, 0x80–0x9f included", () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const s = bytesToBinary(bytes);
  assert.equal(s.length, 256);
  assert.equal(s.charCodeAt(0x85), 0x85);
  assert.deepEqual(binaryToBytes(s), bytes);
  assert.equal(hexToBinary(bytesToHex(bytes)), s);
});

Deno.test("concatBytes joins in order into a new array", () => {
  const a = new Uint8Array([1, 2]);
  const joined = concatBytes([a, new Uint8Array(0), new Uint8Array([3])]);
  assert.deepEqual(joined, new Uint8Array([1, 2, 3]));
  joined[0] = 9;
  assert.equal(a[0], 1);
  assert.deepEqual(concatBytes([]), new Uint8Array(0));
});
