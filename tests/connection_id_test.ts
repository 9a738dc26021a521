import { strict as assert } from "node:assert/strict";
import { CONNECTION_ID_WINDOW_MS, ConnectionIds } from "../src/net/connection_id.ts";

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
const IP = "198.51.100.23";
const IP6 = "2001:db8::1";

/** A clock the test moves by hand. */
function manualClock(start: number) {
  const c = { now: start, read: () => c.now };
  return c;
}

Deno.test("an id verifies for at least 2 minutes, from any point of its window", () => {
  // Issue at the start, the middle and the very end of a window.
  for (const offset of [0, 30_000, CONNECTION_ID_WINDOW_MS - 1]) {
    const clock = manualClock(1_700_000_040_000 + offset);
    const ids = new ConnectionIds(KEY, clock.read);
    const [hi, lo] = ids.issue(IP, 6881);
    const issuedAt = clock.now;
    for (let dt = 0; dt <= 120_000; dt += 5_000) {
      clock.now = issuedAt + dt;
      assert.ok(ids.verify(IP, 6881, hi, lo), `offset ${offset}, ${dt} ms later`);
    }
  }
});

Deno.test("an id is rejected once its windows have passed", () => {
  const start = 1_700_000_040_000; // the start of a window
  const clock = manualClock(start);
  const ids = new ConnectionIds(KEY, clock.read);
  const [hi, lo] = ids.issue(IP, 6881);
  clock.now = start + 3 * CONNECTION_ID_WINDOW_MS - 1;
  assert.ok(ids.verify(IP, 6881, hi, lo));
  // Every later window refuses it, those whose number agrees with its window's modulo 4 too.
  for (let w = 3; w <= 12; w++) {
    clock.now = start + w * CONNECTION_ID_WINDOW_MS;
    assert.equal(ids.verify(IP, 6881, hi, lo), false, `${w} windows later`);
  }
});

Deno.test("an id from the future (clock moved back) is rejected", () => {
  const clock = manualClock(1_700_000_040_000);
  const ids = new ConnectionIds(KEY, clock.read);
  const [hi, lo] = ids.issue(IP, 6881);
  clock.now -= CONNECTION_ID_WINDOW_MS;
  assert.equal(ids.verify(IP, 6881, hi, lo), false);
});

Deno.test("an id is bound to its ip and port", () => {
  const ids = new ConnectionIds(KEY, () => 1_700_000_040_000);
  const [hi, lo] = ids.issue(IP, 6881);
  assert.ok(ids.verify(IP, 6881, hi, lo));
  assert.equal(ids.verify("198.51.100.24", 6881, hi, lo), false);
  assert.equal(ids.verify(IP, 6882, hi, lo), false);
  assert.equal(ids.verify(IP6, 6881, hi, lo), false);
  // A different address text of the same length and the same port must not collide either.
  assert.equal(ids.verify("198.51.100.32", 6881, hi, lo), false);

  const [hi6, lo6] = ids.issue(IP6, 6881);
  assert.ok(ids.verify(IP6, 6881, hi6, lo6));
  assert.notDeepEqual([hi6, lo6], [hi, lo]);
});

Deno.test("a changed bit in either half is rejected", () => {
  const ids = new ConnectionIds(KEY, () => 1_700_000_040_000);
  const [hi, lo] = ids.issue(IP, 6881);
  for (let bit = 0; bit < 32; bit++) {
    assert.equal(ids.verify(IP, 6881, (hi ^ (1 << bit)) >>> 0, lo), false);
    assert.equal(ids.verify(IP, 6881, hi, (lo ^ (1 << bit)) >>> 0), false);
  }
});

Deno.test("different keys give different ids; the default key is random", () => {
  const clock = () => 1_700_000_040_000;
  const a = new ConnectionIds(KEY, clock);
  const other = KEY.slice();
  other[0] ^= 1;
  const b = new ConnectionIds(other, clock);
  const idA = a.issue(IP, 6881);
  assert.notDeepEqual(b.issue(IP, 6881), idA);
  assert.equal(b.verify(IP, 6881, idA[0], idA[1]), false);
  assert.deepEqual(new ConnectionIds(KEY, clock).issue(IP, 6881), idA, "same key, same id");

  const r1 = new ConnectionIds(undefined, clock).issue(IP, 6881);
  const r2 = new ConnectionIds(undefined, clock).issue(IP, 6881);
  assert.notDeepEqual(r1, r2);
});

Deno.test("ids are unsigned 32-bit halves and long addresses work", () => {
  const ids = new ConnectionIds(KEY, () => 1_700_000_040_000);
  const long = "fe80::1234:5678:9abc:def0%" + "x".repeat(100);
  const [hi, lo] = ids.issue(long, 65535);
  for (const half of [hi, lo]) assert.ok(Number.isInteger(half) && half >= 0 && half < 2 ** 32);
  assert.ok(ids.verify(long, 65535, hi, lo));
  assert.ok(!ids.verify(long.slice(0, -1), 65535, hi, lo));
});
