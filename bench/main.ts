/**
 * `deno task bench`: Hefur against opentracker, side by side, in one run.
 *
 * 1. UDP announce and scrape load (BEP 15), 2. HTTP announce load with a new connection per request
 * and with keep-alive asked for, 3. the core alone (announces into swarms of 10, 1,000 and 100,000
 * peers), 4. memory per peer at 1,000,000 peers.
 *
 * Every load test runs the same traffic against both trackers in the same run, alternating which
 * goes first, pinned to one core while the generator (bench/loadgen.c, built on the fly) runs on
 * another. It prints both rates, their ratio, each tracker's CPU use and CPU time per request (the
 * figure that stays meaningful when other processes share the machine), the generator's CPU use,
 * and p50/p99 latency at peak and at half of each tracker's own peak.
 *
 * 5. (full runs only) the benchmarks of single pieces: connection ids, UDP codec, whitelist.
 * 6. replication through Redis (`--store redis://…`) against the memory store: CPU per UDP
 * announce, Redis CPU, memory per peer, delay from one instance to another, a Redis outage under
 * load (bench/redis_bench.ts; needs redis-server).
 * 7. the HTTP server: Hefur's own against a minimal `Deno.serve`, same routes and core, under the
 * same load, slowloris and connection flood (bench/http_server_bench.ts).
 * 8. announce latency (p50/p99, UDP and HTTP) with 100,000 torrents while two addresses hammer
 * `/stat`, `/api/stats.json` and `/metrics`: no attack, the page protections on, and off
 * (bench/page_load_bench.ts).
 *
 * Options: `--quick` (or BENCH_QUICK=1) for a short run without 5;
 * `--only=udp,http,store,memory,micro,redis,httpserver,pages`; `--rounds=N`, `--duration=S` (seconds per measurement);
 * `--cores=T,G` (tracker, generator); `--hefur-v8-flags=a,b` (default: those of `deno task start`).
 *
 * Needs: a C compiler (gcc), opentracker, taskset (util-linux) — it says which package is missing.
 *
 * @module
 */
import {
  buildLoadgen,
  type Cores,
  type LoadOptions,
  type LoadResult,
  MissingToolError,
  runLoad,
  startHefur,
  startOpentracker,
  startUdpEcho,
  type TrackerProcess,
  which,
} from "./load.ts";
import { V8_FLAGS } from "../build.ts";
import { httpServerComparison } from "./http_server_bench.ts";

const QUICK = Deno.args.includes("--quick") || Deno.env.get("BENCH_QUICK") === "1";

function flag(name: string): string | undefined {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a?.slice(name.length + 3);
}

const ONLY = new Set(
  (flag("only") ??
    (QUICK
      ? "udp,http,store,memory,redis,httpserver,pages"
      : "udp,http,store,memory,micro,redis,httpserver,pages")).split(","),
);
const ROUNDS = Number(flag("rounds") ?? (QUICK ? 1 : 2));
const DURATION = Number(flag("duration") ?? (QUICK ? 2 : 4));
const [trackerCore, generatorCore] = (flag("cores") ?? "0,1").split(",");
const CORES: Cores = { tracker: trackerCore, generator: generatorCore };
/** The V8 flags Hefur runs with: those of `deno task start` and of the executable (build.ts). */
const HEFUR_V8_FLAGS = (flag("hefur-v8-flags") ??
  V8_FLAGS.map((f) => f.replace(/^--v8-flags=/, "")).join(",")).split(",").filter((f) => f !== "");
/** The simulated clients: 100 peers per torrent, so that every reply carries 50 peers. */
const TRAFFIC = { torrents: 1000, peers: 100_000 };

// ---- formatting ---------------------------------------------------------------------------------

const num = (n: number) => Math.round(n).toLocaleString("en");
const ms = (us: number) => (us / 1000).toFixed(2);
const pct = (f: number) => `${Math.round(f * 100)}%`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function row(cells: (string | number)[], widths: number[]): string {
  return "  " + cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
}

// ---- load tests ---------------------------------------------------------------------------------

interface Scenario {
  title: string;
  mode: LoadOptions["mode"];
  conc: number;
  /** The target: Hefur's rate at least this fraction of opentracker's. */
  target?: number;
}

/** Figures of one tracker in one scenario. */
interface Figures {
  peak: LoadResult[];
  half?: LoadResult;
}

async function compare(
  loadgen: string,
  trackers: TrackerProcess[],
  s: Scenario,
): Promise<Map<string, Figures>> {
  const figures = new Map<string, Figures>(trackers.map((t) => [t.name, { peak: [] }]));
  const base = { mode: s.mode, conc: s.conc, warmup: 0.5, duration: DURATION, ...TRAFFIC };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? trackers : [...trackers].reverse();
    for (const t of order) {
      const port = s.mode.startsWith("udp") ? t.udpPort : t.httpPort;
      figures.get(t.name)!.peak.push(await runLoad(loadgen, CORES, t, { ...base, port }));
    }
  }
  // Latency at half of each tracker's own peak: an open-loop generator, so queueing shows.
  for (const t of trackers) {
    const f = figures.get(t.name)!;
    const rate = median(f.peak.map((r) => r.rate)) / 2;
    const port = s.mode.startsWith("udp") ? t.udpPort : t.httpPort;
    f.half = await runLoad(loadgen, CORES, t, { ...base, port, rate, conc: s.conc * 4 });
  }
  report(s, trackers, figures);
  return figures;
}

function report(s: Scenario, trackers: TrackerProcess[], figures: Map<string, Figures>): void {
  console.log(
    `\n${s.title} — ${num(TRAFFIC.peers)} peers over ${num(TRAFFIC.torrents)} torrents,` +
      ` ${s.conc} requests in flight, ${ROUNDS} × ${DURATION} s each (medians)`,
  );
  const w = [12, 9, 8, 9, 7, 7, 6, 7, 7];
  console.log(row(
    ["", "req/s", "tracker", "µs CPU", "p50", "p99", "gen.", "others", "peers"],
    w,
  ));
  console.log(row(["", "", "CPU", "per req", "ms", "ms", "CPU", "CPU", "/reply"], w));
  const summary = new Map<string, { rate: number; cpuPerReq: number }>();
  for (const t of trackers) {
    const f = figures.get(t.name)!;
    const rate = median(f.peak.map((r) => r.rate));
    const cpuPerReq = median(f.peak.map((r) => r.trackerCpu * 1e6 / Math.max(r.rate, 1)));
    summary.set(t.name, { rate, cpuPerReq });
    console.log(row([
      t.name,
      num(rate),
      pct(median(f.peak.map((r) => r.trackerCpu))),
      cpuPerReq.toFixed(1),
      ms(median(f.peak.map((r) => r.p50_us))),
      ms(median(f.peak.map((r) => r.p99_us))),
      pct(median(f.peak.map((r) => r.cpu))),
      pct(median(f.peak.map((r) => r.othersCpu))),
      median(f.peak.map((r) => r.peers_per_reply)).toFixed(0),
    ], w));
    const bad = f.peak.reduce((n, r) => n + r.errors + r.failures + r.lost, 0);
    if (bad > 0) console.log(`    ${t.name}: ${bad} errors, failure replies or lost requests`);
    const reconnects = f.peak.reduce((n, r) => n + r.reconnects, 0);
    if (s.mode === "http-keep" && reconnects > 0) {
      console.log(
        `    ${t.name} closed the connection after ${
          pct(reconnects / f.peak.reduce((n, r) => n + r.requests, 0))
        } of the requests (keep-alive asked, not granted)`,
      );
    }
  }
  for (const t of trackers) {
    const half = figures.get(t.name)!.half;
    if (half === undefined) continue;
    const behind = half.rate < 0.95 * half.requestedRate
      ? ` — fell behind (others used ${pct(half.othersCpu)} of a core): not a steady 50%`
      : "";
    console.log(
      `  ${t.name} at 50% of its peak (${num(half.requestedRate)}/s asked, ${
        num(half.rate)
      }/s served): p50 ${ms(half.p50_us)} ms, p99 ${ms(half.p99_us)} ms${
        t.name === "hefur" ? " (target < 5 ms)" : ""
      }${behind}`,
    );
  }
  const h = summary.get("hefur");
  for (const other of ["opentracker", "deno echo"]) {
    const o = summary.get(other);
    if (h === undefined || o === undefined) continue;
    const rounds = figures.get("hefur")!.peak.map((r, i) =>
      (r.rate / figures.get(other)!.peak[i].rate).toFixed(2)
    );
    const target = s.target && other === "opentracker" ? ` (target ≥ ${s.target.toFixed(2)})` : "";
    console.log(
      `  hefur/${other}: rate ${(h.rate / o.rate).toFixed(2)} [rounds: ${rounds.join(", ")}]; ` +
        `CPU per request ×${(h.cpuPerReq / o.cpuPerReq).toFixed(2)}, so with a core each ` +
        `${(o.cpuPerReq / h.cpuPerReq).toFixed(2)}${target}`,
    );
  }
  const saturated = [...figures].filter(([, f]) => median(f.peak.map((r) => r.cpu)) > 0.85);
  if (saturated.length > 0) {
    console.log(
      `  note: against ${saturated.map(([n]) => n).join(" and ")} the generator used more than ` +
        `85% of its core, so it may have set the pace: the rate understates that tracker; CPU ` +
        `per request does not`,
    );
  }
  const busy = median([...figures.values()].flatMap((f) => f.peak.map((r) => r.othersCpu)));
  if (busy > 0.25) {
    console.log(
      `  note: other processes used ${pct(busy)} of a core meanwhile, so the trackers did not ` +
        `have their core to themselves: rates and latencies are noisy, CPU per request is not`,
    );
  }
}

/** µs of tracker CPU per request, the median over runs. */
function cpuPerRequest(runs: LoadResult[]): number {
  return median(runs.map((r) => r.trackerCpu * 1e6 / Math.max(r.rate, 1)));
}

/**
 * Where Hefur's CPU per UDP announce goes: Deno's own receive and send (the echo loop), Hefur's
 * work on an announce answered without peers (numwant=0: parse, connection id, the swarm update),
 * and what asking for 50 peers adds (their selection and a longer reply).
 */
async function udpBreakdown(
  loadgen: string,
  hefur: TrackerProcess,
  announces: Map<string, Figures>,
): Promise<void> {
  const echo = announces.get("deno echo");
  if (echo === undefined) return;
  const noPeers: LoadResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    noPeers.push(
      await runLoad(loadgen, CORES, hefur, {
        mode: "udp-announce",
        port: hefur.udpPort,
        conc: 64,
        warmup: 0.5,
        duration: DURATION,
        numwant: 0,
        ...TRAFFIC,
      }),
    );
  }
  const floor = cpuPerRequest(echo.peak);
  const bare = cpuPerRequest(noPeers);
  const full = cpuPerRequest(announces.get("hefur")!.peak);
  console.log(
    `  where hefur's ${full.toFixed(1)} µs go: Deno's receive and send ${floor.toFixed(1)} ` +
      `(the echo loop), an announce answered without peers +${(bare - floor).toFixed(1)}, ` +
      `50 peers in the reply +${(full - bare).toFixed(1)}`,
  );
}

/** Announces every simulated peer once, so that swarms are full before anything is measured. */
async function fill(loadgen: string, t: TrackerProcess): Promise<void> {
  const t0 = performance.now();
  const mode = t.udpPort !== 0 ? "udp-announce" : "http-close";
  const port = t.udpPort !== 0 ? t.udpPort : t.httpPort;
  const r = await runLoad(loadgen, CORES, t, {
    mode,
    port,
    conc: 64,
    warmup: 0,
    duration: 120,
    fill: true,
    numwant: 0,
    ...TRAFFIC,
  });
  console.log(
    `  ${t.name}: ${num(r.requests)} peers announced over ${mode} in ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

async function loadTests(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hefur-bench-" });
  const trackers: TrackerProcess[] = [];
  try {
    const loadgen = await buildLoadgen(dir);
    trackers.push(await startHefur(CORES.tracker, HEFUR_V8_FLAGS));
    try {
      trackers.push(await startOpentracker(CORES.tracker, loadgen, TRAFFIC.torrents, dir));
    } catch (e) {
      if (!(e instanceof MissingToolError)) throw e;
      console.log(`  ${e.message}; Hefur is measured alone`);
    }
    console.log(
      `\nTrackers on core ${CORES.tracker}, generator on core ${CORES.generator}; ` +
        `Hefur runs with ` +
        `${HEFUR_V8_FLAGS.join(" ") || "no V8 flags"}. Filling the swarms:`,
    );
    for (const t of trackers) await fill(loadgen, t);

    if (ONLY.has("udp")) {
      const udp = trackers.filter((t) => t.udpPort !== 0);
      if (udp.length < trackers.length) console.log("\n(1) UDP: Hefur has no UDP listener yet");
      if (udp.some((t) => t.name === "hefur")) {
        // The bare Deno echo loop: the floor of any Deno UDP server.
        const echo = await startUdpEcho(CORES.tracker);
        udp.push(echo);
        trackers.push(echo);
        const announces = await compare(loadgen, udp, {
          title: "(1) UDP announces",
          mode: "udp-announce",
          conc: 64,
          target: 0.5,
        });
        await udpBreakdown(loadgen, udp.find((t) => t.name === "hefur")!, announces);
        trackers.splice(trackers.indexOf(echo), 1);
        await echo.stop();
        await compare(loadgen, udp.slice(0, -1), {
          title: "(1) UDP scrapes of 5 hashes",
          mode: "udp-scrape",
          conc: 64,
        });
      }
    }
    if (ONLY.has("http")) {
      await compare(loadgen, trackers, {
        title: "(2) HTTP announces, a new connection each",
        mode: "http-close",
        conc: 32,
        target: 0.8,
      });
      // Neither tracker keeps announce connections open (hefurd's rule, reference §3.5): the
      // figures then match the line above; a full run shows it, a quick one skips it.
      if (!QUICK) {
        await compare(loadgen, trackers, {
          title: "(2) HTTP announces, keep-alive asked",
          mode: "http-keep",
          conc: 32,
        });
      }
    }
  } finally {
    for (const t of trackers) await t.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

// ---- core and memory ----------------------------------------------------------------------------

/** Runs a bench script in its own Deno process, with Hefur's V8 flags, on the tracker's core. */
async function script(name: string, extraV8: string[], args: string[] = []): Promise<string> {
  const path = new URL(`./${name}`, import.meta.url).pathname;
  const flags = [...extraV8, ...HEFUR_V8_FLAGS].join(",");
  const r = await new Deno.Command("taskset", {
    args: [
      "-c",
      CORES.tracker,
      Deno.execPath(),
      "run",
      "--allow-all",
      ...(flags ? [`--v8-flags=${flags}`] : []),
      path,
      ...args,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`${name} failed`);
  return new TextDecoder().decode(r.stdout).trimEnd();
}

async function memory(): Promise<void> {
  console.log(
    `\n(4) Memory: 1,000,000 peers over 10,000 torrents (Hefur's core, ${
      HEFUR_V8_FLAGS.join(" ") || "no V8 flags"
    })`,
  );
  const text = await script("memory_bench.ts", ["--expose-gc"]);
  for (const line of text.split("\n")) console.log("  " + line.replace(/^memory: /, ""));
}

/** Benchmarks of single pieces (codecs, connection ids, the whitelist walk), run as they are. */
const MICRO: Record<string, string[]> = {
  "admission_bench.ts": [],
  "connection_id_bench.ts": [],
  "flood_bench.ts": [],
  "http_handle_bench.ts": ["--v8-flags=--max-semi-space-size=2"],
  "udp_handle_bench.ts": ["--v8-flags=--max-semi-space-size=2"],
  "udp_packet_bench.ts": [],
  "webtorrent_bench.ts": [],
  "whitelist_bench.ts": ["--v8-flags=--expose-gc"],
};

async function micro(): Promise<void> {
  for (const [name, flags] of Object.entries(MICRO)) {
    const path = new URL(`./${name}`, import.meta.url).pathname;
    const bench = Deno.readTextFileSync(path).includes("Deno.bench(");
    console.log(`\n(5) ${name}`);
    const args = bench ? ["bench", "--allow-all", path] : ["run", "--allow-all", ...flags, path];
    const { success } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
    if (!success) throw new Error(`${name} failed`);
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  console.log(
    `Hefur benchmark${QUICK ? " (quick)" : ""}: ${Deno.build.target}, ` +
      `${navigator.hardwareConcurrency} cores, load average ${
        Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")
      }`,
  );
  if (which("taskset") === undefined) throw new MissingToolError("taskset", "util-linux");
  if (ONLY.has("udp") || ONLY.has("http")) await loadTests();
  if (ONLY.has("store")) {
    console.log("\n(3) The core alone: announces (numwant 50) into one swarm, best of 3");
    console.log(await script("store_bench.ts", [], QUICK ? ["--quick"] : []));
  }
  if (ONLY.has("memory")) await memory();
  if (ONLY.has("micro")) await micro();
  if (ONLY.has("redis")) {
    console.log("\n(6) Replication through Redis against the memory store (bench/redis_bench.ts)");
    if (which("redis-server") === undefined) {
      throw new MissingToolError("redis-server", "redis-server");
    }
    const path = new URL("./redis_bench.ts", import.meta.url).pathname;
    const args = ["run", "--allow-all", path, ...(QUICK ? ["--quick"] : [])];
    const { success } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
    if (!success) throw new Error("redis_bench.ts failed");
  }
  if (ONLY.has("httpserver")) {
    const dir = await Deno.makeTempDir({ prefix: "hefur-bench-" });
    try {
      await httpServerComparison({
        loadgen: await buildLoadgen(dir),
        cores: CORES,
        rounds: Math.max(ROUNDS, 2),
        duration: DURATION,
        quick: QUICK,
        v8Flags: HEFUR_V8_FLAGS,
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  if (ONLY.has("pages")) {
    console.log("\n(8) Announce latency while the pages are hammered (bench/page_load_bench.ts)");
    const path = new URL("./page_load_bench.ts", import.meta.url).pathname;
    const args = ["run", "--allow-all", path, ...(QUICK ? ["--quick"] : [])];
    const { success } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
    if (!success) throw new Error("page_load_bench.ts failed");
  }
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

try {
  await main();
} catch (e) {
  if (e instanceof MissingToolError) {
    console.error(`bench: ${e.message}`);
    Deno.exit(1);
  }
  throw e;
}
