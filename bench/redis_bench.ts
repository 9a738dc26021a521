/**
 * Announces per second on the Redis store against the in-memory store, in one run: the memory
 * core, one Hefur process on a Redis, and two Hefur processes on the same Redis.
 *
 * The traffic is the same for all three: 200 torrents of 100 peers each, every announce from a
 * random known peer asking for 50 peers (so each reply carries 50), at the store's interface (no
 * sockets in front: what is compared is the store). Each Redis "instance" is a process of its own
 * (this script with `--worker`) with 64 announces in flight, as concurrent clients would keep
 * them; redis-server runs on this machine, from Debian's package, without persistence. Its CPU
 * use is shown too: when it nears 100 %, Redis is the bottleneck and more instances do not help.
 *
 * Run alone: `deno run -A bench/redis_bench.ts [--quick]`. `bench/main.ts` runs it as well.
 *
 * @module
 */
import { Tracker } from "../src/tracker/tracker.ts";
import { RedisStore } from "../src/tracker/redis_store.ts";
import {
  AnnounceEvent,
  type AnnounceRequest,
  blankAnnounceRequest,
} from "../src/protocol/types.ts";

const QUICK = Deno.args.includes("--quick") || Deno.env.get("BENCH_QUICK") === "1";
const SECONDS = QUICK ? 2 : 5;
const TORRENTS = 200;
const PEERS = 100;
const IN_FLIGHT = 64;

/** An announce of a random known peer of a random torrent. */
function request(req: AnnounceRequest): AnnounceRequest {
  return peer(req, Math.floor(Math.random() * TORRENTS), Math.floor(Math.random() * PEERS));
}

/** An announce of peer `p` of torrent `t`. */
function peer(req: AnnounceRequest, t: number, p: number): AnnounceRequest {
  const n = t * PEERS + p;
  req.infoHash = ("torrent" + t).padEnd(20, "#");
  req.peerId = "-BN0001-" + String(n).padStart(12, "0");
  req.ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  req.port = 1024 + p;
  req.left = p % 4 === 0 ? 0 : 1_000_000;
  return req;
}

function blank(): AnnounceRequest {
  return { ...blankAnnounceRequest(), numwant: 50 };
}

/** Fills every swarm: each peer announces once. */
async function populate(announce: (r: AnnounceRequest) => unknown): Promise<void> {
  const pending: unknown[] = [];
  for (let t = 0; t < TORRENTS; t++) {
    for (let p = 0; p < PEERS; p++) {
      const req = peer(blank(), t, p);
      req.event = AnnounceEvent.Started;
      pending.push(announce(req));
    }
    await Promise.all(pending.splice(0));
  }
}

/** Announces per second of the in-memory core over `seconds`. */
function memoryRate(seconds: number): number {
  const tracker = new Tracker({ maxTorrents: TORRENTS * 2 });
  for (let t = 0; t < TORRENTS; t++) {
    for (let p = 0; p < PEERS; p++) tracker.announce(peer(blank(), t, p));
  }
  const req = blank();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 1000; k++) tracker.announce(request(req));
    n += 1000;
  }
  return n / ((performance.now() - start) / 1000);
}

/** `--worker URL SECONDS`: one Hefur-like process announcing into Redis; prints its rate. */
async function worker(url: string, seconds: number): Promise<void> {
  const store = await RedisStore.connect(url, "bench", new Tracker({ maxTorrents: TORRENTS * 2 }));
  let n = 0;
  let failures = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    const req = blank();
    while (performance.now() < end) {
      const r = await store.announce(request(req));
      if ("failure" in r) failures++;
      n++;
    }
  }));
  const rate = n / ((performance.now() - start) / 1000);
  await store.close();
  console.log(JSON.stringify({ rate, failures }));
}

/** CPU seconds a process has used so far (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `count` workers at once; returns their summed rate and redis-server's CPU use. */
async function redisRate(url: string, count: number, redisPid: number) {
  const cpu0 = cpuSeconds(redisPid);
  const t0 = performance.now();
  const outputs = await Promise.all(
    Array.from({ length: count }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, "--worker", url, String(SECONDS)],
        stdout: "piped",
        stderr: "inherit",
      }).output()),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = (cpuSeconds(redisPid) - cpu0) / wall;
  let rate = 0;
  let failures = 0;
  for (const o of outputs) {
    if (!o.success) throw new Error("a Redis bench worker failed");
    const r = JSON.parse(new TextDecoder().decode(o.stdout));
    rate += r.rate;
    failures += r.failures;
  }
  return { rate, failures, cpu };
}

async function main(): Promise<void> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const redis = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `redis://127.0.0.1:${port}/0`;
  try {
    let store: RedisStore | undefined;
    for (let i = 0; i < 100 && store === undefined; i++) {
      try {
        store = await RedisStore.connect(url, "bench", new Tracker({ maxTorrents: TORRENTS * 2 }));
      } catch {
        await new Promise((ok) => setTimeout(ok, 50));
      }
    }
    if (store === undefined) throw new Error("redis-server did not start");
    await populate((r) => store.announce(r));
    await store.close();

    const memory = memoryRate(SECONDS);
    const one = await redisRate(url, 1, redis.pid);
    const two = await redisRate(url, 2, redis.pid);
    const fmt = (n: number) => Math.round(n).toLocaleString("en").padStart(12);
    console.log(
      `  ${TORRENTS} torrents x ${PEERS} peers, numwant 50, ${SECONDS} s each; ` +
        `Redis: ${IN_FLIGHT} announces in flight per instance`,
    );
    console.log("  store                        announces/s   vs memory   redis-server CPU");
    console.log(`  memory, one instance        ${fmt(memory)}        1.00`);
    for (
      const [name, r] of [["redis, one instance ", one], ["redis, two instances", two]] as const
    ) {
      console.log(
        `  ${name}        ${fmt(r.rate)}      ${(r.rate / memory).toFixed(3)}   ${
          Math.round(r.cpu * 100)
        } %${r.failures > 0 ? `  (${r.failures} failures)` : ""}`,
      );
    }
    console.log(`  two instances vs one on Redis: ${(two.rate / one.rate).toFixed(2)}x`);
  } finally {
    redis.kill("SIGTERM");
    await redis.status;
  }
}

if (Deno.args[0] === "--worker") await worker(Deno.args[1], Number(Deno.args[2]));
else await main();
