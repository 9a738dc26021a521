import assert from "node:assert/strict";
import { InfoHashCache } from "../src/protocol/info_hash_cache.ts";

/** What the cache must always give: one character per byte. */
function plain(b: Uint8Array, at: number): string {
  return String.fromCharCode(...b.subarray(at, at + 20));
}

Deno.test("InfoHashCache gives the bytes as a string, the same string for the same bytes", () => {
  const cache = new InfoHashCache();
  const packet = crypto.getRandomValues(new Uint8Array(56));
  const first = cache.read(packet, 16);
  assert.equal(first, plain(packet, 16));
  // Same bytes elsewhere in another buffer: the very same string comes back.
  const copy = new Uint8Array(40);
  copy.set(packet.subarray(16, 36), 3);
  assert.equal(cache.read(copy, 3), first);
  assert.equal(cache.read(packet, 36), plain(packet, 36));
});

Deno.test("InfoHashCache is right for hashes that share a cell, and for all zeros", () => {
  // Two cells only: most hashes collide and evict each other.
  const cache = new InfoHashCache(2);
  const zeros = new Uint8Array(20);
  assert.equal(cache.read(zeros, 0), "\0".repeat(20));
  assert.equal(cache.read(zeros, 0), "\0".repeat(20));
  let last = new Uint8Array(24);
  for (let round = 0; round < 2000; round++) {
    let b = crypto.getRandomValues(new Uint8Array(24));
    // Often the same first bytes, so that a cell is shared by hashes that differ later on, and
    // sometimes the last hash again with one byte changed anywhere.
    if (round % 3 === 0) b.set([1, 2, 3], 2);
    if (round % 3 === 1) {
      b = last.slice();
      b[2 + (round % 20)] ^= 1 + (round & 0x7f);
    }
    assert.equal(cache.read(b, 2), plain(b, 2));
    last = b;
  }
  assert.equal(cache.read(zeros, 0), "\0".repeat(20));
});
