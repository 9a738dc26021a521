/**
 * The HTTP server, decided by measurement: Hefur's own HTTP/1.1 server on `Deno.listen` against a
 * minimal `Deno.serve`, both answering the same announce through the same core
 * (bench/http_server_kinds.ts), each pinned to the tracker's core in turn.
 *
 * - load: announces with a new connection each (bench/loadgen.c, `http-close`): CPU µs per reply,
 *   and RSS after it;
 * - slowloris: many connections each sending one more byte of a request head every second: how
 *   long the server keeps them, and whether a plain announce is still answered meanwhile;
 * - connection flood: many connections opened at once that send nothing: how many are still open
 *   a few seconds later, whether a plain announce is answered, and RSS.
 *
 * Part of `deno task bench` (section 7); alone: `deno run -A bench/http_server_bench.ts [--quick]`.
 *
 * @module
 */
import { buildLoadgen, type Cores, type LoadResult, runLoad, type TrackerProcess } from "./load.ts";

/** Settings of one comparison. */
export interface HttpServerBenchOptions {
  loadgen: string;
  cores: Cores;
  rounds: number;
  /** Seconds per load measurement. */
  duration: number;
  quick: boolean;
  v8Flags: string[];
}

const KINDS = ["hefur", "deno-serve"] as const;
type Kind = typeof KINDS[number];
const TRAFFIC = { torrents: 1000, peers: 10_000 };

async function startKind(kind: Kind, core: string, v8Flags: string[]): Promise<TrackerProcess> {
  const script = new URL("./http_server_kinds.ts", import.meta.url).pathname;
  const args = ["-c", core, Deno.execPath(), "run", "--allow-all"];
  if (v8Flags.length > 0) args.push(`--v8-flags=${v8Flags.join(",")}`);
  args.push(script, kind);
  const child = new Deno.Command("taskset", { args, stdout: "piped", stderr: "inherit" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/ready \d+/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`http_server_kinds.ts ${kind} exited before it was ready`);
    text += value;
  }
  reader.cancel();
  return {
    name: kind,
    pid: child.pid,
    httpPort: Number(/ready (\d+)/.exec(text)![1]),
    udpPort: 0,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** Resident memory of `pid` now and at its peak, in MiB. */
function rss(pid: number): { now: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { now: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

const ANNOUNCE = "GET /announce?info_hash=%01%02%03%04%05%06%07%08%09%10%11%12%13%14%15%16%17%18" +
  "%19%20&peer_id=-BB0001-abcdefghijkl&port=6881&left=0&compact=1 HTTP/1.1\r\nHost: x\r\n" +
  "Connection: close\r\n\r\n";
const encoder = new TextEncoder();

/** A plain announce on a new connection: milliseconds until the reply, or undefined (none in 5 s). */
async function probe(port: number): Promise<number | undefined> {
  const t0 = performance.now();
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), 5000);
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode(ANNOUNCE));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    if (n === null || !new TextDecoder().decode(buf.subarray(0, n)).startsWith("HTTP/1.1 200")) {
      return undefined;
    }
    return performance.now() - t0;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

/** Opens `n` connections; each resolves `closed` (seconds since `t0`) when the server ends it. */
/** A connection an attack opened, and when (seconds from its start) the server closed it. */
interface Held {
  conn: Deno.TcpConn;
  closedAt?: number;
}

async function openMany(port: number, n: number, t0: number) {
  const conns: Held[] = [];
  for (let i = 0; i < n; i++) {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      break; // out of ports or refused: fewer connections
    }
    const entry: Held = { conn };
    conns.push(entry);
    (async () => {
      const buf = new Uint8Array(1024);
      try {
        while (await conn.read(buf) !== null) { /* a reply: keep reading until the end */ }
      } catch { /* reset */ }
      entry.closedAt ??= (performance.now() - t0) / 1000;
    })();
  }
  return conns;
}

function closeAll(conns: { conn: Deno.TcpConn }[]): void {
  for (const { conn } of conns) {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

interface Attack {
  /** Connections still open when the observation ended. */
  open: number;
  opened: number;
  /** Median seconds a connection was kept (the observation's length when most stayed open). */
  heldMedian: number;
  /** Milliseconds a plain announce took during the attack; undefined: not answered. */
  probeMs?: number;
  rssMiB: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)];
}

/** Slowloris: `n` connections each sending one more byte of a head every second, for `seconds`. */
async function slowloris(t: TrackerProcess, n: number, seconds: number): Promise<Attack> {
  const t0 = performance.now();
  const conns = await openMany(t.httpPort, n, t0);
  const start = encoder.encode("GET /announce HTTP/1.1\r\nX-Slow: ");
  const byte = encoder.encode("a");
  await Promise.all(conns.map(({ conn }) => conn.write(start).catch(() => 0)));
  let probeMs: number | undefined;
  for (let s = 1; s <= seconds; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    for (const c of conns) if (c.closedAt === undefined) c.conn.write(byte).catch(() => {});
    if (s === Math.min(5, seconds)) probeMs = await probe(t.httpPort);
  }
  return await tally(t, conns, t0, probeMs);
}

/** Connection flood: `n` idle connections opened at once, watched for `seconds`. */
async function flood(t: TrackerProcess, n: number, seconds: number): Promise<Attack> {
  const t0 = performance.now();
  const conns = await openMany(t.httpPort, n, t0);
  const probeMs = await probe(t.httpPort);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return await tally(t, conns, t0, probeMs);
}

/**
 * What an attack that started at `t0` left: connections still open (the others were cut by the
 * server), how long they were held, the server's RSS. Then closes them and lets the server settle.
 */
async function tally(
  t: TrackerProcess,
  conns: Held[],
  t0: number,
  probeMs: number | undefined,
): Promise<Attack> {
  const end = (performance.now() - t0) / 1000;
  const result = {
    open: conns.filter((c) => c.closedAt === undefined).length,
    opened: conns.length,
    heldMedian: median(conns.map((c) => c.closedAt ?? end)),
    probeMs,
    rssMiB: rss(t.pid).now,
  };
  closeAll(conns);
  await new Promise((r) => setTimeout(r, 500));
  return result;
}

/** Runs the comparison and prints it. */
export async function httpServerComparison(o: HttpServerBenchOptions): Promise<void> {
  const servers: TrackerProcess[] = [];
  try {
    for (const kind of KINDS) servers.push(await startKind(kind, o.cores.tracker, o.v8Flags));
    const base = { mode: "http-close" as const, conc: 32, warmup: 0.5, ...TRAFFIC };
    for (const t of servers) {
      await runLoad(o.loadgen, o.cores, t, {
        ...base,
        port: t.httpPort,
        duration: 60,
        fill: true,
        numwant: 0,
      });
    }
    const loads = new Map<string, LoadResult[]>(servers.map((t) => [t.name, []]));
    for (let round = 0; round < o.rounds; round++) {
      for (const t of round % 2 === 0 ? servers : [...servers].reverse()) {
        loads.get(t.name)!.push(
          await runLoad(o.loadgen, o.cores, t, { ...base, port: t.httpPort, duration: o.duration }),
        );
      }
    }
    const slowN = o.quick ? 300 : 800;
    const slowSeconds = o.quick ? 8 : 20;
    const floodN = o.quick ? 1000 : 3000;
    const floodSeconds = o.quick ? 3 : 5;
    console.log(
      `\n(7) The HTTP server: Hefur's on Deno.listen against a minimal Deno.serve, same routes and ` +
        `core, pinned to core ${o.cores.tracker}; announces with a new connection each, ` +
        `${o.rounds} × ${o.duration} s (medians)`,
    );
    const cpu = new Map<string, number>();
    for (const t of servers) {
      const runs = loads.get(t.name)!;
      const perReply = median(runs.map((r) => r.trackerCpu * 1e6 / Math.max(r.rate, 1)));
      cpu.set(t.name, perReply);
      const mem = rss(t.pid);
      console.log(
        `  ${t.name.padEnd(10)} ${Math.round(median(runs.map((r) => r.rate)))} replies/s, ` +
          `${perReply.toFixed(1)} µs CPU a reply, p99 ${
            (median(runs.map((r) => r.p99_us)) / 1000).toFixed(2)
          } ms, RSS ${mem.now.toFixed(0)} MiB (peak ${mem.peak.toFixed(0)})`,
      );
    }
    console.log(
      `  CPU a reply, hefur/deno-serve: ×${
        (cpu.get("hefur")! / cpu.get("deno-serve")!).toFixed(2)
      }`,
    );
    for (const t of servers) {
      const s = await slowloris(t, slowN, slowSeconds);
      console.log(
        `  ${t.name.padEnd(10)} slowloris, ${s.opened} connections sending a byte a second: ` +
          `${s.open} still open after ${slowSeconds} s, median kept ${
            s.heldMedian.toFixed(1)
          } s; ` +
          `an announce meanwhile ${
            s.probeMs === undefined ? "NOT answered" : `answered in ${s.probeMs.toFixed(1)} ms`
          }; RSS ${s.rssMiB.toFixed(0)} MiB`,
      );
    }
    for (const t of servers) {
      const f = await flood(t, floodN, floodSeconds);
      console.log(
        `  ${t.name.padEnd(10)} flood, ${f.opened} idle connections: ${f.open} still open after ` +
          `${floodSeconds} s; an announce meanwhile ${
            f.probeMs === undefined ? "NOT answered" : `answered in ${f.probeMs.toFixed(1)} ms`
          }; RSS ${f.rssMiB.toFixed(0)} MiB`,
      );
    }
  } finally {
    for (const t of servers) await t.stop();
  }
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const dir = await Deno.makeTempDir({ prefix: "hefur-http-bench-" });
  try {
    await httpServerComparison({
      loadgen: await buildLoadgen(dir),
      cores: { tracker: "0", generator: "1" },
      rounds: quick ? 1 : 3,
      duration: quick ? 2 : 4,
      quick,
      v8Flags: ["--max-semi-space-size=2"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
