// The packed peer table against a plain Map model: random adds, updates and removes.
import assert from "node:assert/strict";
import { PeerTable } from "../src/tracker/peer_table.ts";

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

function keyOf(n: number, width: 6 | 18): Uint8Array {
  const k = new Uint8Array(width);
  // Few distinct values per byte, so hash collisions and long probe runs happen.
  for (let i = 0; i < width; i++) k[i] = (n >> (i % 4 * 3)) & 7;
  k[width - 1] = n & 255;
  k[width - 2] = (n >> 8) & 255;
  return k;
}

for (const width of [6, 18] as const) {
  Deno.test(`PeerTable(${width}) agrees with a Map model over 20,000 random operations`, () => {
    const random = rng(width);
    const table = new PeerTable(width);
    const model = new Map<number, { seen: number; left: number }>();
    let now = 0;
    for (let op = 0; op < 20_000; op++) {
      const n = Math.floor(random() * 3000);
      const k = keyOf(n, width);
      const slot = table.find(k);
      assert.equal(slot >= 0, model.has(n), `find(${n}) at op ${op}`);
      if (random() < 0.35 && slot >= 0) {
        table.remove(slot);
        model.delete(n);
      } else {
        now++;
        const s = slot >= 0 ? slot : table.add(k);
        const left = Math.floor(random() * 10);
        table.set(s, String(n).padStart(20, "0"), left, n, 2 * n, now);
        model.delete(n); // re-insert: Map order = announce order
        model.set(n, { seen: now, left });
      }
      assert.equal(table.size, model.size);
    }
    // Announce order: oldest first, same as the model's insertion order.
    const order = [...table.slots()].map((s) => table.lastSeen(s));
    assert.deepEqual(order, [...model.values()].map((v) => v.seen));
    // Every record decodes to what was stored.
    for (const [n, v] of model) {
      const s = table.find(keyOf(n, width));
      const snap = table.snapshot(s);
      assert.deepEqual(
        [snap.peerId, snap.left, snap.uploaded, snap.downloaded, snap.lastSeen],
        [String(n).padStart(20, "0"), v.left, n, 2 * n, v.seen],
      );
      assert.deepEqual(snap.compact, keyOf(n, width));
    }
  });
}

Deno.test("select copies wire forms from a rotating cursor, skipping self and its peer id", () => {
  const table = new PeerTable(6);
  for (let n = 0; n < 10; n++) {
    const s = table.add(new Uint8Array([10, 0, 0, n, 0, n]));
    table.set(s, n === 3 ? "SELF".padEnd(20) : String(n).padEnd(20), 1, 0, 0, n);
  }
  const out = new Uint8Array(60);
  const ids: string[] = [];
  const got = table.select(4, out, 0, 0, "SELF".padEnd(20), ids);
  assert.equal(got, 4);
  assert.deepEqual([...out.subarray(0, 24)].filter((_, i) => i % 6 === 3), [1, 2, 4, 5]);
  assert.deepEqual(ids.map((s) => s.trim()), ["1", "2", "4", "5"]);
  // The next selection goes on from where this one stopped.
  table.select(2, out, 0, -1, "", undefined);
  assert.deepEqual([out[3], out[9]], [6, 7]);
});

for (const width of [6, 18] as const) {
  Deno.test(`PeerTable(${width}).select agrees with a slot-by-slot model`, () => {
    const random = rng(100 + width);
    for (let trial = 0; trial < 300; trial++) {
      const table = new PeerTable(width);
      const size = 1 + Math.floor(random() * 40);
      const selfId = "SELF".padEnd(20, "x");
      const idOf: string[] = [];
      for (let n = 0; n < size; n++) {
        const s = table.add(keyOf(n, width));
        // Some peers share the requester's id, as a client behind several addresses does.
        idOf[s] = random() < 0.15 ? selfId : String(n).padStart(20, "0");
        table.set(s, idOf[s], 1, 0, 0, n);
      }
      let cursor = 0;
      for (let call = 0; call < 5; call++) {
        const self = random() < 0.3 ? -1 : Math.floor(random() * size);
        const n = Math.floor(random() * (size + 3));
        const out = new Uint8Array((size + 3) * width).fill(0xee);
        const ids: string[] = [];
        const got = table.select(n, out, width, self, selfId, ids);
        // The model: walk slots from the cursor, once around at most.
        const expected: number[] = [];
        let slot = cursor < size ? cursor : 0;
        for (let seen = 0; seen < size && expected.length < n; seen++) {
          if (slot !== self && idOf[slot] !== selfId) expected.push(slot);
          slot = (slot + 1) % size;
        }
        if (n > 0) cursor = slot;
        assert.equal(got, expected.length, `trial ${trial} call ${call}`);
        assert.deepEqual(ids, expected.map((s) => idOf[s]));
        const wires = expected.flatMap((s) => [...table.wire(s)]);
        assert.deepEqual([...out.subarray(width, width + got * width)], wires);
        // Nothing written before `offset` nor after the last peer.
        assert.ok(out.subarray(0, width).every((x) => x === 0xee));
        assert.ok(out.subarray(width + got * width).every((x) => x === 0xee));
      }
    }
  });
}

Deno.test("an empty table holds no buffer: none before its first peer, none once emptied", () => {
  const table = new PeerTable(6);
  const key = keyOf(1, 6);
  assert.equal(table.byteLength, 0);
  assert.equal(table.find(key), -1);
  assert.equal(table.select(10, new Uint8Array(60), 0, -1, "x".repeat(20), undefined), 0);
  for (let round = 0; round < 2; round++) {
    const slot = table.add(key);
    table.set(slot, "p".repeat(20), 5, 0, 0, 1);
    assert.ok(table.byteLength > 0);
    assert.equal(table.find(key), slot);
    assert.equal(table.oldest, slot);
    table.remove(slot);
    assert.equal(table.byteLength, 0);
    assert.equal(table.find(key), -1);
    assert.equal(table.oldest, -1);
  }
  table.set(table.add(key), "p".repeat(20), 5, 0, 0, 1);
  table.clear();
  assert.equal(table.byteLength, 0);
  assert.equal(table.size, 0);
  assert.equal(table.find(key), -1);
});
