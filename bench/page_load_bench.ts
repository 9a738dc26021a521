/**
 * Announce latency while the pages are hammered (`deno task bench`, section 7; alone:
 * `deno run --allow-all bench/page_load_bench.ts [--quick]`).
 *
 * Hefur runs in open mode with 100,000 torrents (created by UDP announces before each
 * measurement). A moderate announce load measures latency: UDP announces from 127.0.0.3 and HTTP
 * announces (a new connection each) on behalf of 10.2.0.1, sent at a fixed pace whatever the
 * replies, so a slow tracker shows as latency, not as fewer requests. Meanwhile two attackers
 * (bench/page_attack_worker.ts, each in its own thread, 10.66.0.1 and 10.66.0.2, two connections
 * each) loop over `/stat` pages, `/api/stats.json` and `/metrics`, pipelined, as fast as Hefur
 * answers. Loopback gives every client 127.0.0.1, so the HTTP clients are told apart by the
 * `X-Real-IP` header that Hefur trusts from 127.0.0.1 (`--reverse-proxy-from`); UDP sources bind
 * their own loopback address.
 *
 * Three runs: no attack; the attack with the page protections at their defaults; the attack
 * with them turned off (`--page-rate 0 --page-cache 0 --page-render-budget 0`). The announce
 * rate limit is off in all three (the fill comes from one address).
 *
 * @module
 */
import { SANDBOX_FLAGS, V8_FLAGS } from "../build.ts";
import { cpuSeconds, freePort, readyText } from "./load.ts";
import { encodeUdpRequest, parseUdpReply } from "../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";

const QUICK = Deno.args.includes("--quick") || Deno.env.get("BENCH_QUICK") === "1";
const TORRENTS = 100_000;
const DURATION_MS = QUICK ? 5000 : 10_000;
/** Announce pace of the measuring clients: one UDP announce every 5 ms, one HTTP every 20 ms. */
const UDP_EVERY_MS = 5;
const HTTP_EVERY_MS = 20;
/** A UDP announce unanswered after this long is counted lost. */
const LOST_MS = 5000;

const PROTECTIONS_OFF = ["--page-rate", "0", "--page-cache", "0", "--page-render-budget", "0"];

interface Hefur {
  pid: number;
  httpPort: number;
  udpPort: number;
  stop(): Promise<void>;
}

async function startHefur(extra: string[]): Promise<Hefur> {
  const httpPort = freePort();
  const udpPort = freePort();
  const main = new URL("../src/main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const args = [
    "run",
    ...SANDBOX_FLAGS,
    "--config",
    config,
    ...V8_FLAGS,
    main,
    "serve",
    "--bind-addr",
    "127.0.0.1",
    "--http-port",
    String(httpPort),
    "--udp-port",
    String(udpPort),
    "--control-socket",
    "",
    "--log-level",
    "warning",
    "--max-torrents",
    String(TORRENTS * 2),
    "--announce-rate",
    "0",
    "--early-announces",
    "off",
    "--reverse-proxy-from",
    "127.0.0.1",
    ...extra,
  ];
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
    .spawn();
  const text = await readyText(child);
  return {
    pid: Number(/pid=(\d+)/.exec(text)![1]),
    httpPort,
    udpPort,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** The 20-byte key of torrent `i`. */
function infoHash(i: number): string {
  return "pageload" + String(i).padStart(12, "0");
}

/** A UDP client bound to its own loopback address. */
class Udp {
  readonly conn: Deno.DatagramConn;
  readonly server: Deno.NetAddr;
  id: [number, number] = [0, 0];
  readonly #buf = new Uint8Array(2048);

  constructor(source: string, port: number) {
    this.conn = Deno.listenDatagram({ transport: "udp", hostname: source, port: 0 });
    this.server = { transport: "udp", hostname: "127.0.0.1", port };
  }

  async connect(): Promise<void> {
    await this.conn.send(encodeUdpRequest({ kind: "connect", transactionId: 1 }), this.server);
    const [data] = await this.conn.receive(this.#buf);
    const r = parseUdpReply(data);
    if (r.kind !== "connect") throw new Error("no connection id");
    this.id = [r.connectionIdHi, r.connectionIdLo];
  }

  announce(transactionId: number, torrent: number, port: number, numwant: number): Uint8Array {
    return encodeUdpRequest({
      kind: "announce",
      connectionIdHi: this.id[0],
      connectionIdLo: this.id[1],
      transactionId,
      infoHash: infoHash(torrent),
      peerId: `-PL0001-${String(port).padStart(12, "0")}`,
      downloaded: 0,
      left: port % 3 === 0 ? 0 : 1000,
      uploaded: 0,
      event: AnnounceEvent.Started,
      ip: 0,
      key: port,
      numwant,
      port,
    }).slice();
  }

  /** Transaction ids of the replies as they come, until the socket is closed. */
  async *replies(): AsyncGenerator<number> {
    for (;;) {
      let data: Uint8Array;
      try {
        [data] = await this.conn.receive(this.#buf);
      } catch {
        return;
      }
      yield new DataView(data.buffer, data.byteOffset).getUint32(4);
    }
  }
}

/** Creates the torrents: one announce each, 500 in flight at most. */
async function fill(port: number): Promise<void> {
  const udp = new Udp("127.0.0.4", port);
  await udp.connect();
  let answered = 0;
  const counting = (async () => {
    for await (const _ of udp.replies()) if (++answered === TORRENTS) return;
  })();
  for (let i = 0; i < TORRENTS; i++) {
    while (i - answered >= 500) await new Promise((r) => setTimeout(r, 1));
    await udp.conn.send(udp.announce(i, i, 10000 + (i % 50000), 0), udp.server);
  }
  await Promise.race([counting, new Promise((r) => setTimeout(r, 10_000))]);
  udp.conn.close();
  if (answered < TORRENTS * 0.99) throw new Error(`fill: ${answered} of ${TORRENTS} answered`);
}

/** UDP announces at a steady pace; returns latencies (ms) and how many got no reply. */
async function udpLoad(port: number, until: number) {
  const udp = new Udp("127.0.0.3", port);
  await udp.connect();
  const sent = new Map<number, number>();
  const latencies: number[] = [];
  const start = performance.now();
  const receiving = (async () => {
    for await (const id of udp.replies()) {
      const t = sent.get(id);
      if (t === undefined) continue;
      latencies.push(performance.now() - t);
      sent.delete(id);
    }
  })();
  let tid = 1000;
  while (Date.now() < until) {
    const torrent = Math.floor(Math.random() * TORRENTS);
    sent.set(++tid, performance.now());
    await udp.conn.send(udp.announce(tid, torrent, 20000 + (tid % 40000), 50), udp.server);
    // A fixed pace: the next send is due at its own time, late replies or not.
    const due = start + (tid - 1000) * UDP_EVERY_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  await new Promise((r) => setTimeout(r, Math.min(LOST_MS, 2000)));
  udp.conn.close();
  await receiving;
  return { latencies, lost: sent.size };
}

/** One HTTP announce on a new connection, until Hefur closes it; its latency in ms. */
async function httpAnnounce(port: number, n: number): Promise<number | undefined> {
  const t0 = performance.now();
  const q = `info_hash=${encodeURIComponent(infoHash(n % TORRENTS))}&peer_id=-PL0002-${
    String(n).padStart(12, "0")
  }&port=${30000 + (n % 30000)}&uploaded=0&downloaded=0&left=10&compact=1&numwant=50`;
  const req = `GET /announce?${q} HTTP/1.1\r\nHost: tracker.example\r\nX-Real-IP: 10.2.0.1\r\n` +
    `Connection: close\r\n\r\n`;
  let conn: Deno.Conn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(req));
    const buf = new Uint8Array(4096);
    let got = 0;
    let n: number | null;
    while ((n = await conn.read(buf)) !== null) got += n;
    return got > 0 ? performance.now() - t0 : undefined;
  } catch {
    return undefined;
  } finally {
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

async function httpLoad(port: number, until: number) {
  const pending: Promise<void>[] = [];
  const latencies: number[] = [];
  let failed = 0;
  const start = performance.now();
  for (let i = 0; Date.now() < until; i++) {
    pending.push(
      httpAnnounce(port, i).then((ms) => {
        if (ms === undefined) failed++;
        else latencies.push(ms);
      }),
    );
    const due = start + (i + 1) * HTTP_EVERY_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
  }
  await Promise.all(pending);
  return { latencies, lost: failed };
}

interface AttackTotals {
  requests: number;
  ok: number;
  refused: number;
  busy: number;
  bytes: number;
}

/** Starts an attacker's thread; resolves once it is loaded, with a function that sets it off. */
async function attacker(): Promise<
  (port: number, ip: string, until: number) => Promise<AttackTotals>
> {
  const worker = new Worker(new URL("./page_attack_worker.ts", import.meta.url), {
    type: "module",
  });
  await new Promise((ready) => worker.onmessage = ready);
  return (port, ip, until) =>
    new Promise((resolve) => {
      worker.onmessage = (e) => {
        resolve(e.data);
        worker.terminate();
      };
      worker.postMessage({ port, ip, connections: 2, until });
    });
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface RunResult {
  name: string;
  udp: { p50: number; p99: number; n: number; lost: number };
  http: { p50: number; p99: number; n: number; lost: number };
  attack?: AttackTotals;
  cpu: number;
  /** What Hefur counted: page renders, cache hits, 503s, 429s. */
  pages: { renders: number; hits: number; busy: number; refused: number };
}

async function run(name: string, extra: string[], attacked: boolean): Promise<RunResult> {
  const hefur = await startHefur(extra);
  try {
    await fill(hefur.udpPort);
    // Each page once, as a tracker that has served its pages before: the first render of a page
    // in a new process also compiles its code.
    for (const path of ["/stat", "/stat?page=2", "/api/stats.json", "/metrics"]) {
      const res = await fetch(`http://127.0.0.1:${hefur.httpPort}${path}`, {
        headers: { "x-real-ip": "10.9.9.8", "accept-encoding": "gzip" },
      });
      await res.body?.cancel();
    }
    // Let the fill's garbage be collected, and the cache of those pages expire, before measuring.
    await new Promise((r) => setTimeout(r, 3000));
    const attackers = attacked ? [await attacker(), await attacker()] : [];
    const until = Date.now() + DURATION_MS;
    const cpu0 = cpuSeconds(hefur.pid);
    const attacks = attackers.map((go, i) => go(hefur.httpPort, `10.66.0.${i + 1}`, until));
    const [udp, http, ...totals] = await Promise.all([
      udpLoad(hefur.udpPort, until),
      httpLoad(hefur.httpPort, until),
      ...attacks,
    ]);
    const cpu = (cpuSeconds(hefur.pid) - cpu0) / (DURATION_MS / 1000);
    const metrics = await (await fetch(`http://127.0.0.1:${hefur.httpPort}/metrics`, {
      headers: { "x-real-ip": "10.9.9.9" },
    })).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
    const pages = {
      renders: metric("hefur_page_renders_total"),
      hits: metric("hefur_page_cache_hits_total"),
      busy: metric("hefur_page_busy_total"),
      refused: metric('hefur_admission_refused_total\\{reason="page_rate"\\}'),
    };
    const stats = (r: { latencies: number[]; lost: number }) => {
      const s = r.latencies.sort((a, b) => a - b);
      return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), n: s.length, lost: r.lost };
    };
    let sum: AttackTotals | undefined;
    for (const t of totals as AttackTotals[]) {
      sum ??= { requests: 0, ok: 0, refused: 0, busy: 0, bytes: 0 };
      for (const k of Object.keys(sum) as (keyof AttackTotals)[]) sum[k] += t[k];
    }
    return { name, udp: stats(udp), http: stats(http), attack: sum, cpu, pages };
  } finally {
    await hefur.stop();
  }
}

const f = (ms: number) => Number.isNaN(ms) ? "—" : ms.toFixed(1);
const loadAverage = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

console.log(
  `  ${TORRENTS.toLocaleString("en")} torrents, ${DURATION_MS / 1000} s per run; ` +
    `a UDP announce every ${UDP_EVERY_MS} ms, an HTTP one every ${HTTP_EVERY_MS} ms; ` +
    `2 attacker addresses, 2 pipelining connections each; load average ${loadAverage()}`,
);
const results = [
  await run("no attack", [], false),
  await run("attack, protections on", [], true),
  await run("attack, protections off", PROTECTIONS_OFF, true),
];
const widths = [24, 22, 22, 6, 26, 30];
const line = (cells: string[]) =>
  "  " + cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ");
console.log(line([
  "",
  "UDP p50 / p99 ms",
  "HTTP p50 / p99 ms",
  "CPU",
  "pages: 2xx / 429 / 503",
  "Hefur: renders / hits / 429",
]));
for (const r of results) {
  const a = r.attack;
  const p = r.pages;
  console.log(line([
    r.name,
    `${f(r.udp.p50)} / ${f(r.udp.p99)}${r.udp.lost ? ` (${r.udp.lost} lost)` : ""}`,
    `${f(r.http.p50)} / ${f(r.http.p99)}${r.http.lost ? ` (${r.http.lost} lost)` : ""}`,
    `${Math.round(r.cpu * 100)}%`,
    a === undefined ? "—" : `${a.ok} / ${a.refused} / ${a.busy}`,
    a === undefined ? "—" : `${p.renders} / ${p.hits} / ${p.refused}`,
  ]));
}
const worst = Math.max(results[1].udp.p99, results[1].http.p99);
console.log(
  `  announce p99 under attack, protections on: ${f(worst)} ms (target: under 50 ms); ` +
    `load average now ${loadAverage()}`,
);
