import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { InfoHashMap } from "../src/tracker/info_hash_map.ts";

/** A deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6b43a9b5) >>> 0;
    return x / 2 ** 32;
  };
}

/** A binary string of `length` characters 0–255. */
function key(next: () => number, length = 20): string {
  let s = "";
  for (let i = 0; i < length; i++) s += String.fromCharCode(Math.floor(next() * 256));
  return s;
}

Deno.test("InfoHashMap agrees with a Map over random sets, deletes and gets", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const next = random(seed);
    const map = new InfoHashMap<number>();
    const model = new Map<string, number>();
    // A small pool of keys, so that keys come back after being deleted.
    const pool = Array.from({ length: 5 + Math.floor(next() * 300) }, () => key(next));
    for (let op = 0; op < 3000; op++) {
      const k = pool[Math.floor(next() * pool.length)];
      const r = next();
      if (r < 0.5) {
        map.set(k, op);
        model.set(k, op);
      } else if (r < 0.8) {
        assertEquals(map.delete(k), model.delete(k));
      } else {
        // A copy of the key: look-ups come with strings fresh from a request.
        const copy = (" " + k).slice(1);
        assertEquals(map.get(copy), model.get(k));
        assertEquals(map.has(copy), model.has(k));
      }
      assertEquals(map.size, model.size);
    }
    for (const k of pool) assertEquals(map.get(k), model.get(k), `seed ${seed}`);
    assertEquals([...map], [...model]);
  }
});

Deno.test("InfoHashMap takes keys of any length, the empty one included", () => {
  const next = random(7);
  const map = new InfoHashMap<string>();
  const keys = ["", "a", "ab", "abc", "abcd", "abcde", key(next, 33), key(next, 40)];
  for (const k of keys) map.set(k, `v${k.length}`);
  for (const k of keys) assertEquals(map.get(k), `v${k.length}`);
  assertEquals(map.get("abcdef"), undefined);
  assertEquals(map.size, keys.length);
  for (const k of keys) assertEquals(map.delete(k), true);
  assertEquals(map.size, 0);
  for (const k of keys) assertEquals(map.get(k), undefined);
});

Deno.test("InfoHashMap iterates in insertion order and allows deletion while iterating", () => {
  const next = random(11);
  const map = new InfoHashMap<number>();
  const keys = Array.from({ length: 1000 }, () => key(next));
  keys.forEach((k, i) => map.set(k, i));
  assertEquals([...map.keys()], keys);
  // Delete every other entry from inside the loop, as a sweep does.
  const seen: number[] = [];
  for (const [k, v] of map) {
    seen.push(v);
    if (v % 2 === 0) map.delete(k);
  }
  assertEquals(seen, keys.map((_, i) => i));
  assertEquals([...map.values()], keys.map((_, i) => i).filter((i) => i % 2 === 1));
  for (const [i, k] of keys.entries()) assertEquals(map.get(k), i % 2 === 1 ? i : undefined);
});

Deno.test("InfoHashMap: setting a present key replaces its value, not its place", () => {
  const map = new InfoHashMap<number>();
  map.set("x".repeat(20), 1);
  map.set("y".repeat(20), 2);
  map.set("x".repeat(20), 3);
  assertEquals([...map], [["x".repeat(20), 3], ["y".repeat(20), 2]]);
  assertEquals(map.get("x".repeat(20)), 3);
});
