/**
 * The tracker core alone: announces per second into one swarm of 10, 1,000 and 100,000 peers.
 * The cost of an announce must not grow with the swarm (an index finds the peer, a reply copies
 * `numwant` ready wire forms), so the last line prints the ratio between 100,000 and 1,000 peers.
 *
 * Run: `deno run --allow-all bench/store_bench.ts [--quick]`.
 *
 * @module
 */
import { Tracker } from "../src/tracker/tracker.ts";
import { AnnounceEvent, type AnnounceRequest, Want } from "../src/protocol/types.ts";

/** Nanoseconds per announce for one swarm size. */
export interface StoreFigure {
  peers: number;
  /** How many of the peers announce (the others only sit in the swarm). */
  active: number;
  nsPerAnnounce: number;
  announcesPerSecond: number;
}

/** Builds one request per peer up front, so that the loop measures the core and nothing else. */
function requests(peers: number, hash: string): AnnounceRequest[] {
  const out: AnnounceRequest[] = [];
  for (let n = 0; n < peers; n++) {
    out.push({
      infoHash: hash,
      peerId: "-BN0001-" + String(n).padStart(12, "0"),
      ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      port: 1024 + (n % 50000),
      uploaded: n,
      downloaded: n,
      left: n % 4 === 0 ? 0 : 1000,
      event: AnnounceEvent.None,
      numwant: 50,
      want: Want.V4,
    });
  }
  return out;
}

/**
 * Fills a swarm with `peers` peers, then times re-announces of peers picked at random for about
 * `seconds` (best of `rounds`, so a moment of contention on a shared machine does not count).
 */
export function measureSwarm(
  peers: number,
  seconds: number,
  rounds = 3,
  active = peers,
): StoreFigure {
  const tracker = new Tracker({ maxPeers: peers, maxTorrents: 10 });
  const reqs = requests(peers, "H".repeat(20));
  for (const r of reqs) tracker.announce(r);
  // A random order, drawn once: the loop must not pay for the random numbers.
  const order = new Uint32Array(1 << 16);
  for (let i = 0; i < order.length; i++) order[i] = Math.floor(Math.random() * active);
  let sink = 0;
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    let n = 0;
    const t0 = performance.now();
    let elapsed = 0;
    while (elapsed < seconds * 1000) {
      for (let i = 0; i < 4096; i++, n++) {
        const r = tracker.announce(reqs[order[n & 0xffff]]);
        if ("peers4" in r) sink += r.peers4.length;
      }
      elapsed = performance.now() - t0;
    }
    best = Math.min(best, elapsed * 1e6 / n);
  }
  if (sink === 0.5) console.log(sink);
  if (tracker.get("H".repeat(20))!.swarm.size !== peers) throw new Error("swarm lost peers");
  return { peers, active, nsPerAnnounce: best, announcesPerSecond: 1e9 / best };
}

/**
 * Runs the three sizes and prints one line each, then the ratio; then the largest swarm again with
 * only 1,000 of its peers announcing, which tells memory latency (a 100,000-peer table is several
 * MiB, far more than the CPU caches) from work that would grow with the swarm.
 */
export function runStoreBench(quick: boolean): StoreFigure[] {
  const seconds = quick ? 0.3 : 1;
  const figures = [10, 1_000, 100_000].map((n) => measureSwarm(n, seconds));
  figures.push(measureSwarm(100_000, seconds, 3, 1_000));
  for (const f of figures) {
    const who = f.active < f.peers ? `, ${f.active.toLocaleString("en")} of them announcing` : "";
    console.log(
      `  swarm of ${f.peers.toLocaleString("en").padStart(7)} peers${who}: ` +
        `${Math.round(f.announcesPerSecond).toLocaleString("en").padStart(10)} announces/s, ` +
        `${(f.nsPerAnnounce / 1000).toFixed(2)} µs each`,
    );
  }
  const ratio = figures[2].nsPerAnnounce / figures[1].nsPerAnnounce;
  const hot = figures[3].nsPerAnnounce / figures[1].nsPerAnnounce;
  console.log(
    `  cost per announce, 100,000 vs 1,000 peers: ×${ratio.toFixed(2)}; with the same 1,000 ` +
      `peers announcing in the large swarm: ×${hot.toFixed(2)} (flat is ×1: the difference is ` +
      `cache misses, not work; 10 peers is cheaper only because a reply then carries 9 peers)`,
  );
  return figures;
}

if (import.meta.main) runStoreBench(Deno.args.includes("--quick"));
