/**
 * The pieces of a side-by-side load test: build the C load generator, start Hefur and opentracker
 * pinned to one core, measure how much CPU a tracker used over a window, and run the generator
 * pinned to another core.
 *
 * @module
 */

import { SANDBOX_FLAGS } from "../build.ts";

/** A tracker under test, running as a child process. */
export interface TrackerProcess {
  /** `hefur` or `opentracker`. */
  readonly name: string;
  readonly pid: number;
  /** Port of its HTTP listener on 127.0.0.1. */
  readonly httpPort: number;
  /** Port of its UDP listener on 127.0.0.1, or 0 when it has none. */
  readonly udpPort: number;
  /** Stops it and waits for it to exit. */
  stop(): Promise<void>;
}

/** What the generator prints (see bench/loadgen.c), plus the tracker's CPU over the window. */
export interface LoadResult {
  mode: string;
  requests: number;
  rate: number;
  errors: number;
  failures: number;
  lost: number;
  reconnects: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  /** The generator's CPU over the window, as a fraction of one core. */
  cpu: number;
  peers_per_reply: number;
  /** The tracker's CPU over the window, as a fraction of one core (all its threads). */
  trackerCpu: number;
  /** CPU other processes used over the window, in cores: the noise of a shared machine. */
  othersCpu: number;
  /** The rate asked of the generator (0: as fast as the tracker answers). */
  requestedRate: number;
}

/** Cores used: the tracker on one, the generator on another. */
export interface Cores {
  tracker: string;
  generator: string;
}

/** A tool the benchmark needs is missing; the message says which package provides it. */
export class MissingToolError extends Error {
  override name = "MissingToolError";
  constructor(readonly tool: string, readonly pkg: string) {
    super(`${tool} not found: install it (Debian: apt-get install ${pkg})`);
  }
}

/** Path of `command` on PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const path = `${dir}/${command}`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not there */ }
  }
  return undefined;
}

/** Compiles bench/loadgen.c into `dir`; returns the binary's path. */
export async function buildLoadgen(dir: string): Promise<string> {
  const cc = which("cc") ?? which("gcc");
  if (cc === undefined) throw new MissingToolError("cc", "gcc");
  const source = new URL("./loadgen.c", import.meta.url).pathname;
  const out = `${dir}/loadgen`;
  const r = await new Deno.Command(cc, { args: ["-O2", "-o", out, source], stderr: "piped" })
    .output();
  if (!r.success) {
    throw new Error(`cannot compile loadgen.c:\n${new TextDecoder().decode(r.stderr)}`);
  }
  return out;
}

/** A TCP and UDP port free on 127.0.0.1 right now. */
export function freePort(): number {
  // Deno.listenDatagram needs the "net" unstable feature; without it, only TCP is checked.
  const listenDatagram = (Deno as unknown as {
    listenDatagram?: (o: { hostname: string; port: number; transport: "udp" }) => {
      close(): void;
    };
  }).listenDatagram;
  for (let i = 0; i < 20; i++) {
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (tcp.addr as Deno.NetAddr).port;
    try {
      listenDatagram?.({ hostname: "127.0.0.1", port, transport: "udp" }).close();
      return port;
    } catch {
      /* the UDP port is taken: try another */
    } finally {
      tcp.close();
    }
  }
  throw new Error("no free port");
}

/** CPU time in seconds used so far by every thread of `pid`. */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
    } catch { /* the thread ended */ }
  }
  return ns / 1e9;
}

async function waitForTcp(port: number, child: Deno.ChildProcess, what: string): Promise<void> {
  const status = child.status.then(() => true);
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch { /* not yet */ }
    if (await Promise.race([status, new Promise((r) => setTimeout(() => r(false), 50))])) {
      throw new Error(`${what} exited before listening`);
    }
  }
  throw new Error(`${what} did not start listening on ${port}`);
}

function stopper(child: Deno.ChildProcess): () => Promise<void> {
  return async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
  };
}

/**
 * Options of every Hefur under load. The whole load comes from 127.0.0.1 and its peers re-announce
 * at once: without these the rate limit and the early-announce path would answer most of it
 * (opentracker has neither; admission_bench.ts measures their cost).
 */
export const BENCH_SERVE_ARGS: readonly string[] = [
  "--announce-rate",
  "0",
  "--scrape-rate",
  "0",
  "--early-announces",
  "off",
];

/**
 * What a spawned `hefur serve` printed up to its ready line; its standard error is drained after
 * that, so that the tracker never blocks on a full pipe.
 */
export async function readyText(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("hefur: ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`hefur exited before it was ready:\n${text}`);
    text += value;
  }
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return text;
}

/**
 * Starts Hefur on 127.0.0.1 (random ports), pinned to `core`, with extra V8 flags (and `extra`
 * arguments of `hefur serve`). Resolves once it printed its ready line.
 */
export async function startHefur(
  core: string,
  v8Flags: string[],
  main = new URL("../src/main.ts", import.meta.url).pathname,
  name = "hefur",
  permissions: readonly string[] = [
    ...SANDBOX_FLAGS,
    "--config",
    new URL("../deno.json", new URL(main, "file:///")).pathname,
  ],
  extra: readonly string[] = [],
): Promise<TrackerProcess> {
  // The sandbox of `deno task start` by default: Deno checks the permission of every UDP
  // destination, so what the permission set costs is part of the figures.
  const args = ["-c", core, Deno.execPath(), "run", ...permissions];
  if (v8Flags.length > 0) args.push(`--v8-flags=${v8Flags.join(",")}`);
  const httpPort = freePort();
  const udpPort = freePort();
  args.push(
    main,
    "serve",
    "--bind-addr",
    "127.0.0.1",
    "--http-port",
    String(httpPort),
    "--udp-port",
    String(udpPort),
    "--log-level",
    "warning",
    // No control socket: the default one is shared by every Hefur of this user.
    "--control-socket",
    "",
    ...BENCH_SERVE_ARGS,
    ...extra,
  );
  const child = new Deno.Command("taskset", { args, stdout: "null", stderr: "piped" }).spawn();
  const text = await readyText(child);
  const pid = Number(/pid=(\d+)/.exec(text)![1]);
  const hasUdp = /udp=/.test(text);
  return {
    name,
    pid,
    httpPort,
    udpPort: hasUdp ? udpPort : 0,
    stop: stopper(child),
  };
}

/**
 * Starts opentracker on 127.0.0.1, pinned to `core`. Debian builds it with a whitelist
 * (README.Debian), so it gets one listing the generator's torrents; its UDP path does not check
 * it in this version, its HTTP path does.
 */
export async function startOpentracker(
  core: string,
  loadgen: string,
  torrents: number,
  dir: string,
): Promise<TrackerProcess> {
  const binary = which("opentracker");
  if (binary === undefined) throw new MissingToolError("opentracker", "opentracker");
  const hashes = await new Deno.Command(loadgen, { args: ["hashes", String(torrents)] }).output();
  await Deno.writeFile(`${dir}/whitelist.txt`, hashes.stdout, { mode: 0o644 });
  // It drops to user "nobody" before reading the list: the directory must be readable by all.
  await Deno.chmod(dir, 0o755);
  const port = freePort();
  const child = new Deno.Command("taskset", {
    args: [
      "-c",
      core,
      binary,
      "-i",
      "127.0.0.1",
      "-p",
      String(port),
      "-P",
      String(port),
      "-w",
      "whitelist.txt",
      "-d",
      dir,
    ],
    cwd: dir,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForTcp(port, child, "opentracker");
  // Give its whitelist thread time to read the list.
  await new Promise((r) => setTimeout(r, 300));
  return {
    name: "opentracker",
    pid: child.pid,
    httpPort: port,
    udpPort: port,
    stop: stopper(child),
  };
}

/**
 * Starts the bare `Deno.listenDatagram` echo loop of `udp_echo.ts`, pinned to `core`: the fastest
 * a Deno UDP server can answer, the floor under Hefur's UDP figures.
 */
export async function startUdpEcho(core: string): Promise<TrackerProcess> {
  const script = new URL("./udp_echo.ts", import.meta.url).pathname;
  const child = new Deno.Command("taskset", {
    args: ["-c", core, Deno.execPath(), "run", "--allow-all", "--unstable-net", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ready \d+/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`udp_echo.ts exited before it was ready: ${text}`);
    text += value;
  }
  reader.cancel();
  const port = Number(/ready (\d+)/.exec(text)![1]);
  return { name: "deno echo", pid: child.pid, httpPort: 0, udpPort: port, stop: stopper(child) };
}

/** Settings of one generator run; see bench/loadgen.c. */
export interface LoadOptions {
  mode: "udp-announce" | "udp-scrape" | "http-close" | "http-keep";
  port: number;
  warmup: number;
  duration: number;
  conc: number;
  /** Requests per second; 0 for as many as the tracker answers. */
  rate?: number;
  torrents: number;
  peers: number;
  numwant?: number;
  scrape?: number;
  /** Announce every peer once and stop. */
  fill?: boolean;
}

/** Runs the generator on `cores.generator` against a tracker and measures the tracker's CPU. */
export async function runLoad(
  loadgen: string,
  cores: Cores,
  tracker: TrackerProcess,
  o: LoadOptions,
): Promise<LoadResult> {
  const args = [
    "-c",
    cores.generator,
    loadgen,
    o.mode,
    "127.0.0.1",
    String(o.port),
    `warmup=${o.warmup}`,
    `duration=${o.duration}`,
    `conc=${o.conc}`,
    `rate=${o.rate ?? 0}`,
    `torrents=${o.torrents}`,
    `peers=${o.peers}`,
    `numwant=${o.numwant ?? 50}`,
    `scrape=${o.scrape ?? 5}`,
    `fill=${o.fill ? 1 : 0}`,
  ];
  const child = new Deno.Command("taskset", { args, stdout: "piped", stderr: "piped" }).spawn();
  let cpu0 = cpuSeconds(tracker.pid);
  let machine0 = machineBusySeconds();
  let t0 = performance.now();
  const started = setTimeout(() => {
    cpu0 = cpuSeconds(tracker.pid);
    machine0 = machineBusySeconds();
    t0 = performance.now();
  }, o.fill ? 0 : o.warmup * 1000);
  const out = await child.output();
  clearTimeout(started);
  const seconds = (performance.now() - t0) / 1000;
  const trackerCpu = (cpuSeconds(tracker.pid) - cpu0) / seconds;
  const machine = (machineBusySeconds() - machine0) / seconds;
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success || text === "") {
    throw new Error(`loadgen ${o.mode} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const result = JSON.parse(text);
  // What neither the tracker nor the generator used: other processes on this machine.
  const othersCpu = Math.max(0, machine - trackerCpu - result.cpu);
  return { ...result, trackerCpu, othersCpu, requestedRate: o.rate ?? 0 };
}

/** CPU seconds all cores of the machine spent busy (not idle, not waiting for I/O) so far. */
export function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const ticks = line.split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7];
  return busy / 100;
}
