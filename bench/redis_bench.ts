/**
 * Replication through Redis (`--store redis://…`) against the memory store, with real Hefur
 * processes, a real redis-server and UDP traffic from bench/loadgen.c, all on this machine:
 *
 * 1. **CPU per UDP announce** at a fixed rate: one Hefur with `--store memory`, then instance A of
 *    two replicated instances (B applies every change A makes); B's CPU per change it applies and
 *    redis-server's CPU per announce are shown too. Memory per peer of each after the fill.
 * 2. **A to B**: how long until a peer announced at A is handed out by B (p50, p99), under load.
 * 3. **Redis away under load**: both instances take load while redis-server is killed for a while
 *    and started again on the same port (empty: no persistence); failed announces on each, and the
 *    time after Redis returns until each hands out a peer the other learned during the outage.
 *
 * CPU figures are CPU time per request (from /proc), which stays meaningful on a shared machine;
 * rounds alternate which store goes first, and medians are shown. The store this replaced (one
 * Lua script per announce) measured about 45 µs of redis-server CPU per announce on this machine
 * (docs/scaling.md): the target is a twentieth of it.
 *
 * Run alone: `deno run -A bench/redis_bench.ts [--quick]`; `bench/main.ts` runs it as section 6.
 *
 * @module
 */
import {
  buildLoadgen,
  cpuSeconds,
  freePort,
  runLoad,
  startHefur,
  type TrackerProcess,
} from "./load.ts";
import { V8_FLAGS } from "../build.ts";

const QUICK = Deno.args.includes("--quick") || Deno.env.get("BENCH_QUICK") === "1";
const ROUNDS = QUICK ? 1 : 3;
const SECONDS = QUICK ? 3 : 6;
/** Announces per second sent to the measured instance: well under what one core answers. */
const RATE = 5_000;
const TRAFFIC = { torrents: 1000, peers: 100_000 };
const PROBES = QUICK ? 100 : 300;
const OUTAGE_SECONDS = QUICK ? 10 : 30;
/** The store this replaced: redis-server CPU per announce, measured here before (µs). */
const OLD_REDIS_US_PER_ANNOUNCE = 45;
const HEFUR_V8_FLAGS = V8_FLAGS.map((f) => f.replace(/^--v8-flags=/, ""));
const CORES = { tracker: "0", generator: "1" };

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

// ---- redis-server -------------------------------------------------------------------------------

class Redis {
  readonly port = freePort();
  child: Deno.ChildProcess | undefined;

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get pid(): number {
    return this.child!.pid;
  }

  async start(): Promise<void> {
    // On the generator's core, with B: the measured instance has its core to itself (taskset
    // execs the server, so the pid is redis-server's).
    this.child = new Deno.Command("taskset", {
      args: [
        "-c",
        CORES.generator,
        "redis-server",
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 100; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port })).close();
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error("redis-server did not start");
  }

  /** A fresh, empty redis-server on the same port: every run starts from nothing. */
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    child?.kill("SIGKILL");
    await child?.status;
  }
}

// ---- a small BEP 15 client ----------------------------------------------------------------------

/** Announces over UDP to one tracker and returns the ports of the peers handed out. */
class UdpClient {
  readonly #sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly #to: Deno.NetAddr;
  #conn: Uint8Array | undefined;
  #connAt = 0;
  #tid = 1;

  constructor(port: number) {
    this.#to = { transport: "udp", hostname: "127.0.0.1", port };
  }

  /** The peers' ports of an announce from 127.0.0.1:`port`, or undefined without an answer. */
  async announce(
    infoHash: string,
    port: number,
    timeoutMs = 1000,
  ): Promise<number[] | undefined> {
    if (this.#conn === undefined || Date.now() - this.#connAt > 50_000) {
      const c = new Uint8Array(16);
      const v = new DataView(c.buffer);
      v.setUint32(0, 0x417);
      v.setUint32(4, 0x27101980);
      v.setUint32(12, this.#tid++);
      const r = await this.#ask(c, timeoutMs);
      if (r === undefined || r.length < 16) return undefined;
      this.#conn = r.slice(8, 16);
      this.#connAt = Date.now();
    }
    const a = new Uint8Array(98);
    const v = new DataView(a.buffer);
    a.set(this.#conn, 0);
    v.setUint32(8, 1);
    v.setUint32(12, this.#tid++);
    for (let i = 0; i < 20; i++) a[16 + i] = infoHash.charCodeAt(i);
    a.set(new TextEncoder().encode("-BR0001-" + String(port).padStart(12, "0")), 36);
    v.setBigUint64(64, 100n);
    v.setInt32(92, 200);
    v.setUint16(96, port);
    const r = await this.#ask(a, timeoutMs);
    if (r === undefined || new DataView(r.buffer, r.byteOffset).getUint32(0) !== 1) {
      return undefined;
    }
    const ports = [];
    for (let i = 20; i + 6 <= r.length; i += 6) ports.push(r[i + 4] * 256 + r[i + 5]);
    return ports;
  }

  async #ask(packet: Uint8Array, timeoutMs: number): Promise<Uint8Array | undefined> {
    await this.#sock.send(packet, this.#to);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((ok) =>
      timer = setTimeout(() => ok(undefined), timeoutMs)
    );
    try {
      return await Promise.race([this.#sock.receive().then(([b]) => b), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#sock.close();
  }
}

/** A fresh info hash for probe `n` (apart from the load's torrents). */
const probeHash = (n: number) => ("probe" + n).padEnd(20, "~");

/** Memory of a process as the kernel counts it (RSS, bytes). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m === null ? 0 : Number(m[1]) * 1024;
}

function hefur(store: string, name: string, core = CORES.tracker): Promise<TrackerProcess> {
  return startHefur(core, HEFUR_V8_FLAGS, undefined, name, undefined, ["--store", store]);
}

// ---- 1. CPU per announce, memory per peer -------------------------------------------------------

interface CpuRound {
  /** Announces per second answered (the generator asks for RATE). */
  memoryRate: number;
  replicatedRate: number;
  memoryUs: number;
  replicatedUs: number;
  applyUs: number;
  redisUs: number;
  memoryBytesPerPeer: number;
  aBytesPerPeer: number;
  bBytesPerPeer: number;
}

async function cpuRound(loadgen: string, redis: Redis, memoryFirst: boolean): Promise<CpuRound> {
  const load = {
    mode: "udp-announce" as const,
    warmup: 1,
    duration: SECONDS,
    conc: 64,
    ...TRAFFIC,
  };
  const out: Partial<CpuRound> = {};
  const runMemory = async () => {
    const m = await hefur("memory", "memory");
    try {
      const before = rss(m.pid);
      await runLoad(loadgen, CORES, m, { ...load, port: m.udpPort, fill: true });
      out.memoryBytesPerPeer = (rss(m.pid) - before) / TRAFFIC.peers;
      const r = await runLoad(loadgen, CORES, m, { ...load, port: m.udpPort, rate: RATE });
      out.memoryUs = r.trackerCpu / r.rate * 1e6;
      out.memoryRate = r.rate;
    } finally {
      await m.stop();
    }
  };
  const runReplicated = async () => {
    await redis.restart();
    const a = await hefur(redis.url, "A");
    // B on the generator's core: it is measured by its own CPU time, not by its speed.
    const b = await hefur(redis.url, "B", CORES.generator);
    try {
      const [a0, b0] = [rss(a.pid), rss(b.pid)];
      await runLoad(loadgen, CORES, a, { ...load, port: a.udpPort, fill: true });
      await sleep(2000); // the last batches go out and B applies them
      out.aBytesPerPeer = (rss(a.pid) - a0) / TRAFFIC.peers;
      out.bBytesPerPeer = (rss(b.pid) - b0) / TRAFFIC.peers;
      const bCpu0 = cpuSeconds(b.pid);
      const redisCpu0 = cpuSeconds(redis.pid);
      const r = await runLoad(loadgen, CORES, a, { ...load, port: a.udpPort, rate: RATE });
      await sleep(500);
      out.replicatedUs = r.trackerCpu / r.rate * 1e6;
      out.replicatedRate = r.rate;
      // Spent during the warm-up and the measurement; the requests of both.
      const requests = r.rate * (SECONDS + load.warmup);
      out.applyUs = (cpuSeconds(b.pid) - bCpu0) / requests * 1e6;
      out.redisUs = (cpuSeconds(redis.pid) - redisCpu0) / requests * 1e6;
    } finally {
      await a.stop();
      await b.stop();
    }
  };
  if (memoryFirst) {
    await runMemory();
    await runReplicated();
  } else {
    await runReplicated();
    await runMemory();
  }
  return out as CpuRound;
}

// ---- 2. A to B ----------------------------------------------------------------------------------

/** Milliseconds until B hands out a peer just announced at A, `PROBES` times, under load. */
async function propagation(
  loadgen: string,
  redis: Redis,
): Promise<{ delays: number[]; started: number }> {
  await redis.restart();
  const a = await hefur(redis.url, "A");
  const b = await hefur(redis.url, "B", CORES.generator);
  const toA = new UdpClient(a.udpPort);
  const toB = new UdpClient(b.udpPort);
  const delays: number[] = [];
  let started = 0;
  try {
    const window = QUICK ? 20 : 45;
    const end = performance.now() + (window - 2) * 1000;
    const load = runLoad(loadgen, CORES, a, {
      mode: "udp-announce",
      port: a.udpPort,
      warmup: 0.5,
      duration: window,
      conc: 64,
      rate: RATE / 2,
      ...TRAFFIC,
    });
    let poller = 20_000;
    for (let n = 0; n < PROBES && performance.now() < end; n++) {
      const hash = probeHash(n);
      const t0 = performance.now();
      if ((await toA.announce(hash, 10_000)) === undefined) continue;
      started++;
      for (let i = 0; i < 500; i++) {
        // A short wait per poll: a reply lost on this busy machine must not count as delay.
        const got = await toB.announce(hash, poller++ % 40_000 + 20_000, 50);
        if (got?.includes(10_000)) {
          delays.push(performance.now() - t0);
          break;
        }
        await sleep(2);
      }
    }
    await load;
  } finally {
    toA.close();
    toB.close();
    await a.stop();
    await b.stop();
  }
  return { delays, started };
}

// ---- 3. Redis away under load -------------------------------------------------------------------

/** Unanswered UDP requests per request of the same dual load with Redis up (the machine's loss). */
async function control(loadgen: string, redis: Redis): Promise<number> {
  await redis.restart();
  const a = await hefur(redis.url, "A");
  const b = await hefur(redis.url, "B", CORES.generator);
  try {
    const load = { mode: "udp-announce" as const, warmup: 0.5, duration: 8, conc: 32, ...TRAFFIC };
    const [ra, rb] = await Promise.all([
      runLoad(loadgen, CORES, a, { ...load, port: a.udpPort, rate: RATE / 4 }),
      runLoad(loadgen, CORES, b, { ...load, port: b.udpPort, rate: RATE / 4 }),
    ]);
    return (ra.lost + rb.lost) / (ra.requests + rb.requests + ra.lost + rb.lost);
  } finally {
    await a.stop();
    await b.stop();
  }
}

async function outage(loadgen: string, redis: Redis) {
  await redis.restart();
  const a = await hefur(redis.url, "A");
  const b = await hefur(redis.url, "B", CORES.generator);
  const toA = new UdpClient(a.udpPort);
  const toB = new UdpClient(b.udpPort);
  try {
    const seconds = OUTAGE_SECONDS + 8;
    const load = { mode: "udp-announce" as const, warmup: 0.5, duration: seconds, conc: 32 };
    const loads = Promise.all([
      runLoad(loadgen, CORES, a, { ...load, port: a.udpPort, rate: RATE / 4, ...TRAFFIC }),
      runLoad(loadgen, CORES, b, {
        ...load,
        port: b.udpPort,
        rate: RATE / 4,
        torrents: TRAFFIC.torrents,
        peers: TRAFFIC.peers,
      }),
    ]);
    await sleep(3000);
    await redis.kill();
    await sleep(1000);
    // Learned during the outage: a peer at each.
    const hash = probeHash(1_000_000);
    const duringA = await toA.announce(hash, 11_111);
    const duringB = await toB.announce(hash, 22_222);
    await sleep((OUTAGE_SECONDS - 1) * 1000);
    await redis.start();
    const back = performance.now();
    let aHasB = NaN;
    let bHasA = NaN;
    let poller = 30_000;
    while (performance.now() - back < 20_000 && (Number.isNaN(aHasB) || Number.isNaN(bHasA))) {
      if (Number.isNaN(aHasB) && (await toA.announce(hash, poller++, 50))?.includes(22_222)) {
        aHasB = performance.now() - back;
      }
      if (Number.isNaN(bHasA) && (await toB.announce(hash, poller++, 50))?.includes(11_111)) {
        bHasA = performance.now() - back;
      }
      await sleep(10);
    }
    const [ra, rb] = await loads;
    return {
      answeredDuring: duringA !== undefined && duringB !== undefined,
      failuresA: ra.failures + ra.errors,
      failuresB: rb.failures + rb.errors,
      lostA: ra.lost,
      lostB: rb.lost,
      requests: ra.requests + rb.requests,
      aHasB,
      bHasA,
    };
  } finally {
    toA.close();
    toB.close();
    await a.stop();
    await b.stop();
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hefur-redis-bench-" });
  const redis = new Redis();
  try {
    const loadgen = await buildLoadgen(dir);
    await redis.start();
    const rounds: CpuRound[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await cpuRound(loadgen, redis, i % 2 === 0));
    const med = (k: keyof CpuRound) => median(rounds.map((r) => r[k]));
    const ratio = med("replicatedUs") / med("memoryUs");
    const perPeer = Math.max(med("aBytesPerPeer"), med("bBytesPerPeer"));
    console.log(
      `  UDP announces at ${RATE.toLocaleString("en")}/s to one instance, ` +
        `${TRAFFIC.peers.toLocaleString("en")} peers over ${TRAFFIC.torrents} torrents, ` +
        `numwant 50; ${ROUNDS} round(s) of ${SECONDS} s, medians`,
    );
    console.log(
      `  answered: ${Math.round(med("replicatedRate")).toLocaleString("en")}/s replicated, ` +
        `${Math.round(med("memoryRate")).toLocaleString("en")}/s memory`,
    );
    const f = (n: number) => n.toFixed(2).padStart(8);
    console.log(
      "  figure                                          measured   memory store   target",
    );
    console.log(
      `  CPU per announce, µs (A, replicated)            ${f(med("replicatedUs"))}   ${
        f(med("memoryUs"))
      }       ≤ 1.3×: ${ratio.toFixed(2)}× ${ratio <= 1.3 ? "ok" : "MISSED"}`,
    );
    console.log(
      `  CPU per remote change applied, µs (B)           ${f(med("applyUs"))}`,
    );
    const redisRatio = med("redisUs") / OLD_REDIS_US_PER_ANNOUNCE;
    console.log(
      `  redis-server CPU per announce, µs               ${
        f(med("redisUs"))
      }   (old store ~${OLD_REDIS_US_PER_ANNOUNCE})  ≤ 1/20: 1/${Math.round(1 / redisRatio)} ${
        redisRatio <= 1 / 20 ? "ok" : "MISSED"
      }`,
    );
    console.log(
      `  memory per peer, bytes RSS (A local, B remote)  ${f(med("aBytesPerPeer"))} / ${
        med("bBytesPerPeer").toFixed(0)
      }   ${f(med("memoryBytesPerPeer"))}   ≤ 1.5×: ${
        (perPeer / med("memoryBytesPerPeer")).toFixed(2)
      }× (RSS over ${TRAFFIC.peers.toLocaleString("en")} peers: rough)`,
    );

    // On paper: N instances sharing R announces a second, each serving R/N (s each) and applying
    // the others' R·(N−1)/N changes (c each). Cores per instance, from the figures above.
    const serve = med("memoryUs");
    const apply = med("applyUs");
    console.log(
      `  applying a remote change costs ${(apply / serve).toFixed(2)} of serving an announce: ` +
        `applying overtakes serving from N > ${(1 + serve / apply).toFixed(1)} instances; ` +
        `cluster ceiling 1/c = ${Math.round(1e6 / apply).toLocaleString("en")} announces/s`,
    );
    const rates = [50_000, 100_000, 200_000, 400_000];
    console.log(
      "  cores per instance   " + rates.map((r) => `R=${r / 1000}k/s`.padStart(10)).join(""),
    );
    for (const n of [1, 2, 4, 8, 16]) {
      const cells = rates.map((r) => ((r / n * serve + r * (n - 1) / n * apply) / 1e6).toFixed(2));
      console.log(`  N=${String(n).padEnd(18)}` + cells.map((c) => c.padStart(10)).join(""));
    }

    const { delays, started } = await propagation(loadgen, redis);
    const p99 = quantile(delays, 0.99);
    console.log(
      `  A announces, B hands out: p50 ${quantile(delays, 0.5).toFixed(0)} ms, p99 ${
        p99.toFixed(0)
      } ms; ${delays.length} of ${started} probes seen (target p99 ≤ 1000 ms: ${
        p99 <= 1000 && delays.length === started ? "ok" : "MISSED"
      })`,
    );

    const loss = await control(loadgen, redis);
    const o = await outage(loadgen, redis);
    const lossDuring = (o.lostA + o.lostB) / (o.requests + o.lostA + o.lostB);
    const failed = o.failuresA + o.failuresB;
    const converged = Math.max(o.aHasB, o.bHasA);
    console.log(
      `  Redis killed for ${OUTAGE_SECONDS} s under load (${o.requests.toLocaleString("en")} ` +
        `announces): failed A ${o.failuresA}, B ${o.failuresB}; target 0: ${
          failed === 0 && o.answeredDuring ? "ok" : "MISSED"
        }. Unanswered UDP: ${(lossDuring * 100).toFixed(1)} % (same load, Redis up: ${
          (loss * 100).toFixed(1)
        } %: the machine's loss)`,
    );
    console.log(
      `  after Redis returned: A hands out B's peer in ${
        o.aHasB.toFixed(0)
      } ms, B hands out A's in ${o.bHasA.toFixed(0)} ms (target ≤ 2000 ms: ${
        converged <= 2000 ? "ok" : "MISSED"
      })`,
    );
  } finally {
    await redis.kill();
    await Deno.remove(dir, { recursive: true });
  }
}

await main();
