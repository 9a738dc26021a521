/**
 * Cost of admission (deny list and rate limits) per request, and of the official-seed count and
 * the early-announce check in the core, beside a plain announce. Run:
 * `deno bench --allow-all bench/admission_bench.ts`.
 *
 * @module
 */
import { Admission } from "../src/admission/admission.ts";
import { DenyList } from "../src/admission/deny_list.ts";
import { addressKey } from "../src/admission/rate_limiter.ts";
import { IpSet } from "../src/protocol/ip_set.ts";
import { AnnounceEvent, type AnnounceRequest, Want } from "../src/protocol/types.ts";
import { type EarlyAnnouncePolicy, Tracker } from "../src/tracker/tracker.ts";

const ADDRESSES = 10_000;
const v4 = Array.from(
  { length: ADDRESSES },
  (_, i) => `10.${i >> 16 & 255}.${i >> 8 & 255}.${i & 255}`,
);
// Typical client addresses: a /64 from the provider and a full interface id.
const v6 = Array.from(
  { length: ADDRESSES },
  (_, i) => `2001:db8:${i.toString(16)}:1:a1b2:c3d4:e5f6:${i.toString(16)}`,
);
// A blocklist of 10 000 networks that none of the clients is in.
const blocklist = Array.from(
  { length: 10_000 },
  (_, i) => `172.${16 + (i >> 12 & 15)}.${i >> 4 & 255}.${(i & 15) << 4}/28`,
);

function admission(deny: string[], perMinute: number): Admission {
  const limit = { perMinute, burst: 1e9, maxAddresses: 100_000 };
  return new Admission({
    announce: limit,
    scrape: limit,
    deny: new DenyList({ networks: deny, file: "", pollMs: 0 }),
  });
}

const off = admission([], 0);
const limited = admission([], 60);
const limitedDeny = admission(blocklist, 60);
let n = 0;

Deno.bench("admission off (no limit, no deny list)", { group: "admission" }, () => {
  off.check(v4[n++ % ADDRESSES], "announce");
});
Deno.bench("rate limit, IPv4, 10k addresses", { group: "admission", baseline: true }, () => {
  limited.check(v4[n++ % ADDRESSES], "announce");
});
Deno.bench("rate limit, IPv6 (/64 key), 10k addresses", { group: "admission" }, () => {
  limited.check(v6[n++ % ADDRESSES], "announce");
});
Deno.bench("rate limit + 10k-network deny list, IPv4", { group: "admission" }, () => {
  limitedDeny.check(v4[n++ % ADDRESSES], "announce");
});
Deno.bench("addressKey, IPv6", { group: "parts" }, () => {
  addressKey(v6[n++ % ADDRESSES]);
});
const set = new IpSet(blocklist);
Deno.bench("IpSet.has, IPv4, 10k networks", { group: "parts" }, () => {
  set.has(v4[n++ % ADDRESSES]);
});

/** A tracker with one swarm of 1000 peers that announce in turn. */
function announcer(early: EarlyAnnouncePolicy, official: string[]) {
  let clock = 0;
  const tracker = new Tracker({
    open: true,
    earlyAnnounces: early,
    official: new IpSet(official),
    clock: () => clock,
  });
  const req: AnnounceRequest = {
    infoHash: "h".repeat(20),
    peerId: "p".repeat(20),
    ip: "",
    port: 6881,
    uploaded: 0,
    downloaded: 0,
    left: 0,
    event: AnnounceEvent.None,
    numwant: 50,
    want: Want.V4,
  };
  const ids = Array.from({ length: 1000 }, (_, i) => `-BE0001-${i}`.padEnd(20, "x"));
  let i = 0;
  return () => {
    req.ip = v4[i % 1000];
    req.peerId = ids[i++ % 1000];
    // Each peer comes back a min interval (60 s) later: every announce is served.
    clock += 61_000 / 1000;
    tracker.announce(req);
  };
}
const plain = announcer("off", []);
const checked = announcer("counts", []);
const withOfficial = announcer("counts", ["10.0.0.0/24", "192.0.2.0/24"]);
Deno.bench("announce, no early check, no official seeds", { group: "core", baseline: true }, plain);
Deno.bench("announce, early check", { group: "core" }, checked);
Deno.bench("announce, early check + official seed count", { group: "core" }, withOfficial);
