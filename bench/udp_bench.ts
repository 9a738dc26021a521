/**
 * UDP tracker throughput against the fastest a Deno UDP server can go on the same core.
 *
 * Two servers run in turn, each pinned with `taskset` to one core (`SERVER_CPU`, default 1):
 * a bare `Deno.listenDatagram` echo loop (`udp_echo.ts`) and Hefur itself
 * (`src/main.ts serve --udp-port P --http-port 0`). Against each, the same load generator
 * (`udp_load.ts`, its own process pinned to `LOAD_CPU`, default 0) first announces 100,000
 * peers over 1,000 torrents from 4 source addresses, then sends a connect/announce/scrape mix
 * (5/90/5) with a fixed number of requests in flight for `DURATION_MS` (default 10 s).
 *
 * It prints replies and announces per second, latency p50/p99, and the server's CPU use (from
 * /proc) for both, and the ratios: tracker replies per second ÷ echo replies per second (the
 * target is at least 70%), and echo CPU per reply ÷ tracker CPU per reply, which stays honest
 * when the generator rather than the server is what limits the rate.
 *
 * Usage: `deno run -A bench/udp_bench.ts` (environment: DURATION_MS, ROUNDS, SERVER_CPU,
 * LOAD_CPU, WINDOW, SOURCES).
 *
 * @module
 */

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const DURATION_MS = env("DURATION_MS", 10_000);
const ROUNDS = env("ROUNDS", 1);
const SERVER_CPU = env("SERVER_CPU", 1);
const LOAD_CPU = env("LOAD_CPU", 0);
const WINDOW = env("WINDOW", 16);
const SOURCES = env("SOURCES", 4);
const TICKS_PER_SECOND = 100;

const here = (path: string) => new URL(path, import.meta.url).pathname;
const DENO = Deno.execPath();

/** What the generator reports (see udp_load.ts). */
interface LoadResult {
  elapsed: number;
  startEpochMs: number;
  endEpochMs: number;
  replies: number;
  announces: number;
  lost: number;
  repliesPerSec: number;
  announcesPerSec: number;
  p50ms: number;
  p99ms: number;
}

/** One measured run. */
interface RunResult extends LoadResult {
  name: string;
  /** Share of one core the server used while measured (1 = 100%). */
  cpu: number;
  /** Share of one core the load generator used. */
  loadCpu: number;
  /** Server CPU time per reply, µs. */
  cpuPerReplyUs: number;
}

function freeUdpPort(): number {
  const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (s.addr as Deno.NetAddr).port;
  s.close();
  return port;
}

/** utime + stime of a process (all threads), in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Share of one core used between the generator's start and end of measurement. */
function cpuShare(samples: [number, number][], window: LoadResult): number {
  const inWindow = samples.filter(([t]) => t >= window.startEpochMs && t <= window.endEpochMs);
  const [t0, c0] = inWindow[0];
  const [t1, c1] = inWindow[inWindow.length - 1];
  return (c1 - c0) / TICKS_PER_SECOND / ((t1 - t0) / 1000);
}

/** Reads lines of a stream until one matches, then keeps draining it in the background. */
async function waitForLine(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<void> {
  const lines = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`server exited before printing ${pattern}: ${text}`);
    text += value;
    if (pattern.test(text)) break;
  }
  (async () => {
    while (!(await lines.read()).done) { /* drain */ }
  })();
}

async function measure(
  name: string,
  serverArgs: (port: number) => string[],
  ready: "stdout" | "stderr",
): Promise<RunResult> {
  const port = freeUdpPort();
  const server = new Deno.Command("taskset", {
    args: ["-c", String(SERVER_CPU), DENO, ...serverArgs(port)],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  try {
    await waitForLine(ready === "stdout" ? server.stdout : server.stderr, /ready/);
    if (ready === "stdout") server.stderr.cancel();
    else server.stdout.cancel();

    // Sample the server's CPU time every 100 ms; the window is cut out afterwards.
    const samples: [number, number][] = [];
    const sampler = setInterval(() => samples.push([Date.now(), cpuTicks(server.pid)]), 100);
    const loader = new Deno.Command("taskset", {
      args: [
        "-c",
        String(LOAD_CPU),
        DENO,
        "run",
        "-A",
        here("./udp_load.ts"),
        "--port",
        String(port),
        "--duration",
        String(DURATION_MS),
        "--window",
        String(WINDOW),
        "--sources",
        String(SOURCES),
        ...(name === "echo" ? ["--echo"] : []),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const loadSamples: [number, number][] = [];
    const loadSampler = setInterval(() => {
      try {
        loadSamples.push([Date.now(), cpuTicks(loader.pid)]);
      } catch { /* exited */ }
    }, 100);
    const load = await loader.output();
    clearInterval(loadSampler);

    clearInterval(sampler);
    if (!load.success) throw new Error(`load generator failed against ${name}`);
    const result = JSON.parse(new TextDecoder().decode(load.stdout)) as LoadResult;
    const cpu = cpuShare(samples, result);
    return {
      name,
      ...result,
      cpu,
      loadCpu: cpuShare(loadSamples, result),
      cpuPerReplyUs: (cpu * 1e6) / result.repliesPerSec,
    } satisfies RunResult;
  } finally {
    try {
      server.kill("SIGTERM");
    } catch { /* already gone */ }
    await server.status;
  }
}

const echoArgs = (port: number) => ["run", "-A", here("./udp_echo.ts"), "--port", String(port)];
const trackerArgs = (port: number) => [
  "run",
  "-A",
  here("../src/main.ts"),
  "serve",
  "--udp-port",
  String(port),
  "--http-port",
  "0",
  "--bind-addr",
  "127.0.0.1",
  // No control socket: the default one is shared by every Hefur of this user.
  "--control-socket",
  "",
];

const runs: RunResult[] = [];
for (let round = 0; round < ROUNDS; round++) {
  runs.push(await measure("echo", echoArgs, "stdout"));
  runs.push(await measure("tracker", trackerArgs, "stderr"));
}

const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d });
console.log(
  `UDP, ${SOURCES} sources, ${WINDOW} in flight each, ${DURATION_MS / 1000} s, server on CPU ` +
    `${SERVER_CPU}, load on CPU ${LOAD_CPU}`,
);
console.log(
  "server   replies/s  announces/s  p50 ms  p99 ms  server CPU  CPU µs/reply  load CPU  lost",
);
for (const r of runs) {
  console.log(
    `${r.name.padEnd(7)} ${fmt(r.repliesPerSec).padStart(10)} ${
      fmt(r.announcesPerSec).padStart(12)
    } ${r.p50ms.toFixed(2).padStart(7)} ${r.p99ms.toFixed(2).padStart(7)} ${
      (r.cpu * 100).toFixed(0).padStart(10)
    }% ${r.cpuPerReplyUs.toFixed(1).padStart(13)} ${(r.loadCpu * 100).toFixed(0).padStart(8)}% ${
      String(r.lost).padStart(5)
    }`,
  );
}
const best = (name: string) =>
  runs.filter((r) => r.name === name).reduce((a, b) => (b.repliesPerSec > a.repliesPerSec ? b : a));
const echo = best("echo");
const tracker = best("tracker");
console.log(
  `tracker/echo replies per second: ${
    (100 * tracker.repliesPerSec / echo.repliesPerSec).toFixed(0)
  }%` +
    ` (target ≥ 70%); echo/tracker CPU per reply: ${
      (100 * echo.cpuPerReplyUs / tracker.cpuPerReplyUs).toFixed(0)
    }%`,
);
