/**
 * Memory per peer: RSS and V8 heap after loading 1,000,000 peers over 10,000 torrents into the
 * in-memory core, compared with the empty process; then memory per idle torrent (a whitelisted
 * torrent without peers, as most of a publisher's catalogue is at any moment). Run with
 * `deno run -A --v8-flags=--expose-gc`.
 *
 * @module
 *
 * RSS also counts V8's young generation, which grows to tens of MiB under allocation-heavy load
 * whatever the number of peers; `--v8-flags=--max-semi-space-size=2` keeps it small (measured:
 * about 45 bytes/peer less at a million peers).
 */
import { Tracker } from "../src/tracker/tracker.ts";
import { AnnounceEvent, blankAnnounceRequest } from "../src/protocol/types.ts";

const TORRENTS = Number(Deno.env.get("TORRENTS") ?? 10_000);
const PER_TORRENT = Number(Deno.env.get("PER_TORRENT") ?? 100);
const gc = (globalThis as { gc?: () => void }).gc;

function measure() {
  gc?.();
  gc?.();
  const m = Deno.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

const tracker = new Tracker({ maxTorrents: TORRENTS * 2, maxPeers: PER_TORRENT * 2 });
const before = measure();
const req = blankAnnounceRequest();
req.event = AnnounceEvent.Started;
req.numwant = 0;
const t0 = performance.now();
for (let t = 0; t < TORRENTS; t++) {
  req.infoHash = ("t" + t).padEnd(20, "#");
  for (let p = 0; p < PER_TORRENT; p++) {
    const n = t * PER_TORRENT + p;
    req.ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    req.port = 1024 + (n % 50000);
    req.peerId = "-XX0001-" + String(n).padStart(12, "0");
    req.left = n % 3 === 0 ? 0 : 1_000_000_000 + n;
    req.uploaded = n * 1000;
    req.downloaded = n * 2000;
    tracker.announce(req);
  }
}
const loadMs = performance.now() - t0;
const after = measure();
const peers = TORRENTS * PER_TORRENT;
console.log(
  `memory: ${peers} peers over ${TORRENTS} torrents loaded in ${(loadMs / 1000).toFixed(1)} s`,
);
console.log(
  `memory: RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB, ` +
    `heap+external ${(before.heap / 2 ** 20).toFixed(0)} → ${
      (after.heap / 2 ** 20).toFixed(0)
    } MiB`,
);
console.log(
  `memory: ${((after.rss - before.rss) / peers).toFixed(0)} bytes/peer RSS, ` +
    `${((after.heap - before.heap) / peers).toFixed(0)} bytes/peer heap+external (target ≤ 150)`,
);

// Idle torrents: whitelisted, no peer, in a tracker of their own.
const IDLE = Number(Deno.env.get("IDLE_TORRENTS") ?? 100_000);
const catalogue = new Tracker({ open: false, maxTorrents: IDLE });
const empty = measure();
for (let t = 0; t < IDLE; t++) catalogue.addTorrent(("idle" + t).padEnd(20, "#"));
const full = measure();
const started = performance.now();
gc?.();
const gcMs = performance.now() - started;
console.log(
  `memory: ${((full.heap - empty.heap) / IDLE).toFixed(0)} bytes/idle torrent heap+external ` +
    `(${IDLE} whitelisted torrents without peers); a full collection then took ${
      gcMs.toFixed(0)
    } ms`,
);
if (catalogue.size !== IDLE) {
  throw new Error(`expected ${IDLE} idle torrents, got ${catalogue.size}`);
}

// Keep the tracker alive until after the measurements.
if (tracker.size !== TORRENTS) {
  throw new Error(`expected ${TORRENTS} torrents, got ${tracker.size}`);
}
