/**
 * Whitelist figures: the start-up walk of a tree of 20,000 generated torrents (time and memory),
 * a rescan of the unchanged tree, and the delay from writing (or removing) one file to its torrent
 * being tracked (or untracked) with the watcher on.
 *
 * Run: `deno run -A bench/whitelist_bench.ts [files]`. Bounded: it gives up after 3 minutes.
 *
 * @module
 */
import { encode } from "../src/protocol/bencode.ts";
import { parseMetainfo, wireHashes } from "../src/protocol/metainfo.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { Whitelist } from "../src/whitelist/whitelist.ts";

const FILES = Number(Deno.args[0] ?? 20_000);
const PER_DIR = 200;
const LATENCY_ROUNDS = 20;
const DEADLINE = performance.now() + 180_000;

const abort = setTimeout(() => {
  console.error("whitelist bench: over 3 minutes, giving up");
  Deno.exit(1);
}, 180_000);

/** A v1 torrent of about 2 KiB (100 pieces), unique by its number. */
function torrent(n: number): Uint8Array {
  const pieces = new Uint8Array(20 * 100);
  new DataView(pieces.buffer).setUint32(0, n);
  return encode({
    announce: "http://tracker.example/announce",
    "creation date": 1700000000,
    info: { name: `generated-${n}.bin`, length: 100 * 16384, "piece length": 16384, pieces },
  });
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const ms = (x: number) => `${x.toFixed(1)} ms`;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const dir = await Deno.makeTempDir({ prefix: "hefur-wl-bench-" });
const quiet = () => {};
try {
  let t0 = performance.now();
  for (let i = 0; i < FILES; i++) {
    const sub = `${dir}/d${Math.floor(i / PER_DIR)}`;
    if (i % PER_DIR === 0) Deno.mkdirSync(sub);
    Deno.writeFileSync(`${sub}/t${i}.torrent`, torrent(i));
  }
  console.log(
    `generated ${FILES} torrents in ${FILES / PER_DIR} directories: ${ms(performance.now() - t0)}`,
  );

  // Start-up walk, watcher off: the cost of reading, parsing and hashing every file.
  gc();
  const before = Deno.memoryUsage();
  const tracker = new Tracker({ open: false });
  const cold = new Whitelist(tracker, { root: dir, watch: false, log: quiet });
  t0 = performance.now();
  const first = await cold.start();
  const firstMs = performance.now() - t0;
  gc();
  const after = Deno.memoryUsage();
  console.log(
    `start-up scan: ${first.files} files, ${first.tracked} torrents in ${ms(firstMs)} ` +
      `(${(firstMs * 1000 / FILES).toFixed(1)} µs per file)`,
  );
  console.log(
    `memory: heap +${mib(after.heapUsed - before.heapUsed)} ` +
      `(${((after.heapUsed - before.heapUsed) / FILES).toFixed(0)} B per torrent, tracker ` +
      `included), rss ${mib(after.rss)}`,
  );

  // The tracker's share: the same torrents added to a tracker of their own.
  gc();
  const base = Deno.memoryUsage().heapUsed;
  const alone = new Tracker({ open: false });
  for (const t of tracker.torrents()) alone.addTorrent(t.infoHash, { ...t.info! });
  gc();
  const trackerShare = Deno.memoryUsage().heapUsed - base;
  console.log(
    `  of which the tracker's ${alone.size} torrents and swarms: ${mib(trackerShare)} ` +
      `(${(trackerShare / FILES).toFixed(0)} B per torrent)`,
  );

  t0 = performance.now();
  const again = await cold.scanNow();
  console.log(
    `rescan of the unchanged tree: ${ms(performance.now() - t0)}, ${again.read} files read`,
  );
  await cold.close();

  // The same tree with the watcher on, as `hefur serve` runs it.
  const liveTracker = new Tracker({ open: false });
  const live = new Whitelist(liveTracker, { root: dir, log: quiet });
  t0 = performance.now();
  await live.start();
  console.log(`start-up scan with the watcher on: ${ms(performance.now() - t0)}`);

  const add: number[] = [];
  const remove: number[] = [];
  for (let r = 0; r < LATENCY_ROUNDS && performance.now() < DEADLINE; r++) {
    const n = FILES + r;
    const bytes = torrent(n);
    const [hash] = wireHashes(parseMetainfo(bytes));
    const path = `${dir}/d${r % (FILES / PER_DIR)}/new${n}.torrent`;
    t0 = performance.now();
    await Deno.writeFile(path, bytes);
    while (liveTracker.get(hash) === undefined) await new Promise((r) => setTimeout(r, 1));
    add.push(performance.now() - t0);
    t0 = performance.now();
    await Deno.remove(path);
    while (liveTracker.get(hash) !== undefined) await new Promise((r) => setTimeout(r, 1));
    remove.push(performance.now() - t0);
  }
  await live.close();
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `median ${ms(s[Math.floor(s.length / 2)])}, max ${ms(s[s.length - 1])}`;
  };
  console.log(`write → tracked (${add.length} rounds): ${stats(add)}`);
  console.log(`remove → untracked (${remove.length} rounds): ${stats(remove)}`);
} finally {
  clearTimeout(abort);
  await Deno.remove(dir, { recursive: true });
}
