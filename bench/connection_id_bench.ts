/**
 * Connection id cost: the hand-written SipHash-2-4 that `ConnectionIds` uses against the obvious
 * alternative, HMAC-SHA-256 from `node:crypto` over the same message, cut to 64 bits.
 * Run: `deno bench --allow-all bench/connection_id_bench.ts`.
 *
 * @module
 */

import { createHmac } from "node:crypto";
import { ConnectionIds } from "../src/net/connection_id.ts";

const key = crypto.getRandomValues(new Uint8Array(16));
const ids = new ConnectionIds(key);
const v4 = "198.51.100.23";
const v6 = "2001:db8:85a3::8a2e:370:7334";
const [hi4, lo4] = ids.issue(v4, 51413);

/** The HMAC candidate: same message layout as ConnectionIds, first 8 bytes of the MAC. */
function hmacId(ip: string, port: number, window: number): [number, number] {
  const tail = new Uint8Array(6);
  tail[0] = port >>> 8, tail[1] = port;
  tail[2] = window >>> 24, tail[3] = window >>> 16, tail[4] = window >>> 8, tail[5] = window;
  const mac = createHmac("sha256", key).update(ip, "latin1").update(tail).digest();
  return [mac.readUInt32BE(0), mac.readUInt32BE(4)];
}

let sink = 0;

Deno.bench("siphash-2-4 issue (IPv4)", { group: "issue", baseline: true }, () => {
  sink ^= ids.issue(v4, 51413)[0];
});
Deno.bench("hmac-sha256 issue (IPv4)", { group: "issue" }, () => {
  sink ^= hmacId(v4, 51413, Math.floor(Date.now() / 60_000))[0];
});
Deno.bench("siphash-2-4 issue (IPv6)", { group: "issue6", baseline: true }, () => {
  sink ^= ids.issue(v6, 51413)[0];
});
Deno.bench("hmac-sha256 issue (IPv6)", { group: "issue6" }, () => {
  sink ^= hmacId(v6, 51413, Math.floor(Date.now() / 60_000))[0];
});
Deno.bench("siphash-2-4 verify, valid id (1 hash)", { group: "verify" }, () => {
  if (!ids.verify(v4, 51413, hi4, lo4)) throw new Error("rejected a valid id");
});
Deno.bench("siphash-2-4 verify, forged id (1 hash)", { group: "verify" }, () => {
  if (ids.verify(v4, 51413, hi4 ^ 1, lo4)) throw new Error("accepted a forged id");
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink);
});
