import { strict as assert } from "node:assert/strict";
import { SipHash24, SipHashKeyError } from "../src/net/siphash.ts";

/** Key 00..0f, message 00..(n-1): outputs from the SipHash paper's vectors (as LE u64 hex). */
const VECTORS: [number, string][] = [
  [0, "726fdb47dd0e0e31"],
  [1, "74f839c593dc67fd"],
  [7, "ab0200f58b01d137"],
  [8, "93f5f5799a932462"],
  [15, "a129ca6149be45e5"],
  [16, "3f2acc7f57c29bdb"],
  [63, "958a324ceb064572"],
];

Deno.test("SipHash-2-4 matches the reference vectors for every tail length path", () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  const h = new SipHash24(key);
  for (const [n, hex] of VECTORS) {
    h.hash(Uint8Array.from({ length: n }, (_, i) => i), n);
    const got = h.hi.toString(16).padStart(8, "0") + h.lo.toString(16).padStart(8, "0");
    assert.equal(got, hex, `length ${n}`);
  }
});

Deno.test("SipHash-2-4 hashes only the first `length` bytes", () => {
  const h = new SipHash24(new Uint8Array(16));
  const msg = new Uint8Array(32).fill(7);
  h.hash(msg, 10);
  const [hi, lo] = [h.hi, h.lo];
  msg[10] = 99;
  h.hash(msg, 10);
  assert.deepEqual([h.hi, h.lo], [hi, lo]);
  h.hash(msg, 11);
  assert.notDeepEqual([h.hi, h.lo], [hi, lo]);
});

Deno.test("SipHash-2-4 refuses a key that is not 16 bytes", () => {
  assert.throws(() => new SipHash24(new Uint8Array(8)), SipHashKeyError);
});
