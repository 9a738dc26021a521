/**
 * `deno task soak`: a long run of mixed load against a `hefur serve` process, to show that it
 * stays up, bounded and exact.
 *
 * ```
 * deno task soak [--seconds 600] [--rate 1] [--torrents 50] [--peers 200] [--sample 5]
 * ```
 *
 * The load: announces over HTTP and UDP (each simulated peer keeps a state — absent, leecher,
 * seeder — and announces over either protocol, so the swarms mix them), scrapes over both,
 * refusals on purpose (unknown torrents, bad queries), every page and API, `hefur ctl status`,
 * torrents released and retired through the control socket, and `.torrent` files dropped into
 * the directory and removed again. Rates are fixed (`--rate` multiplies them), so the figures
 * show a load held, not a peak.
 *
 * Checked at the end, and the exit code is 1 if any fails:
 * - no errors: every request got the answer it should, the server logged no error and exited 0
 *   on SIGTERM;
 * - the counters on `/stat` and in `/metrics` equal what this generator did, and the seeders,
 *   leechers and completed counts equal its model of the peers;
 * - memory plateaus: the resident size sampled over the last third of the run grows less than
 *   5 % (or 8 MiB) above the highest of the middle third (judged on runs of two minutes or more:
 *   a shorter one is still warming up).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { encode } from "../src/protocol/bencode.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { parseMetainfo } from "../src/protocol/metainfo.ts";
import { encodeUdpRequest, parseUdpReply, type UdpReply } from "../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { ControlClient } from "../src/control/client.ts";
import { V8_FLAGS } from "../build.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: Deno.env.get("SOAK_SECONDS") ?? "600" },
    rate: { type: "string", default: "1" },
    torrents: { type: "string", default: "50" },
    peers: { type: "string", default: "200" },
    sample: { type: "string", default: "5" },
  },
});
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const TORRENTS = Number(values.torrents);
const PEERS_PER_TORRENT = Number(values.peers);
const SAMPLE_MS = Number(values.sample) * 1000;

/** Requests per second of each kind at `--rate 1`. */
const RATES = {
  announce: 600, // over 4 workers, about 60 % HTTP and 40 % UDP
  scrape: 40,
  page: 6,
  refusal: 2,
};
const ANNOUNCE_WORKERS = 4;
const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

// ---- what the generator did, and what it expects ----

/** Counts kept by the generator, compared with the server's at the end. */
const did = {
  httpAnnounceOk: 0,
  httpAnnounceRefused: 0,
  httpBadQueries: 0,
  udpAnnounceOk: 0,
  udpAnnounceRefused: 0,
  httpScrapes: 0,
  udpScrapes: 0,
  pages: 0,
  ctlStatus: 0,
  released: 0,
  retired: 0,
  dropped: 0,
};
const errors: string[] = [];
function error(message: string): void {
  if (errors.length < 50) errors.push(message);
  else if (errors.length === 50) errors.push("… more errors left out");
}

/** One simulated peer: which torrent, which port, and its state as the tracker should see it. */
interface Peer {
  torrent: number;
  port: number;
  peerId: string;
  state: "absent" | "leecher" | "seeder";
}
const completed = new Array<number>(TORRENTS).fill(0);

/** Mulberry32: the load is the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pct = (s: string) =>
  Array.from(s, (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function torrentBytes(name: string): Uint8Array {
  return encode({
    announce: "http://127.0.0.1/announce",
    info: {
      name,
      length: 1 << 20,
      "piece length": 1 << 18,
      pieces: encoder.encode(name.padEnd(80, "#").slice(0, 80)),
    },
  });
}

// ---- the server ----

const dir = await Deno.makeTempDir({ prefix: "hefur-soak-" });
const torrentDir = join(dir, "torrents");
await Deno.mkdir(join(torrentDir, "drop"), { recursive: true });
const hashes: string[] = [];
for (let t = 0; t < TORRENTS; t++) {
  const bytes = torrentBytes(`soak ${t}`);
  await Deno.writeFile(join(torrentDir, `soak-${t}.torrent`), bytes);
  hashes.push(parseMetainfo(bytes).infoHashV1!);
}
const controlPath = join(dir, "control");
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    // The V8 flags of `deno task start` and the executable: memory as in production.
    ...V8_FLAGS,
    MAIN,
    "serve",
    "--bind-addr",
    "127.0.0.1",
    "--http-port",
    String(freePort("tcp")),
    "--udp-port",
    String(freePort("udp")),
    "--torrent-dir",
    torrentDir,
    "--control-socket",
    controlPath,
    "--log-level",
    "warning",
    // One address (the generator) stands for thousands of peers: no per-address rate limit.
    "--announce-rate",
    "0",
    "--scrape-rate",
    "0",
    // Pages too, and the final counts are read live, not from the page cache.
    "--page-rate",
    "0",
    "--page-cache",
    "0",
  ],
  stdin: "null",
  stdout: "null",
  stderr: "piped",
}).spawn();
// Whatever ends this script (a signal, an uncaught error) ends the server too.
function abort(): void {
  try {
    child.kill("SIGKILL");
  } catch { /* already ended */ }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* removed */ }
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    abort();
    Deno.exit(130);
  });
}
globalThis.addEventListener("error", abort);
globalThis.addEventListener("unhandledrejection", abort);
let stderr = "";
const { promise: readyLine, resolve: ready } = Promise.withResolvers<string>();
const stderrDone = (async () => {
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    stderr += chunk;
    const m = /^hefur: ready (.*)$/m.exec(stderr);
    if (m) ready(m[1]);
  }
  ready("");
})();
const fields = Object.fromEntries((await readyLine).split(" ").map((f) => f.split("=", 2)));
if (fields.http === undefined) {
  console.error(`hefur serve did not start:\n${stderr}`);
  abort();
  Deno.exit(1);
}
const HTTP_PORT = Number(fields.http.split(":").pop());
const UDP_PORT = Number(fields.udp.split(":").pop());
const PID = child.pid;

function freePort(transport: "tcp" | "udp"): number {
  if (transport === "udp") {
    const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (s.addr as Deno.NetAddr).port;
    s.close();
    return port;
  }
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Resident memory of the server, from /proc. */
function rss(): number {
  const status = Deno.readTextFileSync(`/proc/${PID}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

// ---- clients ----

/** One HTTP/1.1 request on its own connection; the tracker closes it after the answer. */
async function httpGet(target: string): Promise<{ status: number; body: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: HTTP_PORT });
  try {
    await conn.write(encoder.encode(`GET ${target} HTTP/1.1\r\nHost: soak\r\n\r\n`));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let at = 0;
    for (const c of chunks) all.set(c, (at += c.length) - c.length);
    const head = latin1.decode(all.subarray(0, 1024));
    const end = head.indexOf("\r\n\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? -1);
    const body = all.subarray(end + 4);
    if (end < 0 || body.length !== length) {
      throw new Error(`incomplete response to ${target.slice(0, 60)}: ${all.length} bytes`);
    }
    return { status, body };
  } finally {
    conn.close();
  }
}

const isFailure = (body: Uint8Array) =>
  latin1.decode(body.subarray(0, 20)).startsWith("d14:failure");

/** A BEP 15 client: one socket, a connection id renewed every 50 s, one request at a time. */
class UdpClient {
  readonly #conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  readonly #to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: UDP_PORT };
  readonly #buf = new Uint8Array(65536);
  #id: [number, number] = [0, 0];
  #idAt = -Infinity;
  #tid = 1;
  #pending: Promise<Uint8Array | undefined> | undefined;

  async #request(packet: Uint8Array): Promise<UdpReply> {
    await this.#conn.send(packet, this.#to);
    this.#pending ??= this.#conn.receive(this.#buf).then(([d]) => d.slice(), () => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 3000));
    const got = await Promise.race([this.#pending, late]);
    clearTimeout(timer);
    if (got === "late" || got === undefined) throw new Error("UDP: no reply within 3 s");
    this.#pending = undefined;
    return parseUdpReply(got);
  }

  async id(): Promise<[number, number]> {
    if (performance.now() - this.#idAt > 50_000) {
      const tid = this.#tid++;
      const r = await this.#request(encodeUdpRequest({ kind: "connect", transactionId: tid }));
      if (r.kind !== "connect" || r.transactionId !== tid) throw new Error("UDP: bad connect");
      this.#id = [r.connectionIdHi, r.connectionIdLo];
      this.#idAt = performance.now();
    }
    return this.#id;
  }

  async announce(infoHash: string, p: Peer, event: AnnounceEvent, left: number) {
    const [hi, lo] = await this.id();
    const tid = this.#tid++;
    const r = await this.#request(encodeUdpRequest({
      kind: "announce",
      connectionIdHi: hi,
      connectionIdLo: lo,
      transactionId: tid,
      infoHash,
      peerId: p.peerId,
      downloaded: 0,
      left,
      uploaded: 0,
      event,
      ip: 0,
      key: 0,
      numwant: 30,
      port: p.port,
    }));
    if (r.transactionId !== tid) throw new Error("UDP: reply to another transaction");
    return r;
  }

  async scrape(infoHashes: string[]) {
    const [hi, lo] = await this.id();
    const tid = this.#tid++;
    const r = await this.#request(encodeUdpRequest({
      kind: "scrape",
      connectionIdHi: hi,
      connectionIdLo: lo,
      transactionId: tid,
      infoHashes,
    }));
    if (r.kind !== "scrape" || r.entries.length !== infoHashes.length) {
      throw new Error(`UDP: bad scrape reply ${JSON.stringify(r).slice(0, 100)}`);
    }
  }

  async close(): Promise<void> {
    this.#conn.close();
    await this.#pending;
  }
}

function announceQuery(infoHash: string, p: Peer, event: string, left: number): string {
  return `/announce?info_hash=${pct(infoHash)}&peer_id=${pct(p.peerId)}&port=${p.port}` +
    `&uploaded=0&downloaded=0&left=${left}&numwant=30&compact=1${event ? `&event=${event}` : ""}`;
}

// ---- workers ----

let running = true;
const started = performance.now();
const deadline = started + SECONDS * 1000;

/** Calls `work` `perSecond` times a second until the end of the run. */
async function paced(perSecond: number, work: (i: number) => Promise<void>): Promise<void> {
  const interval = 1000 / perSecond;
  let next = performance.now();
  for (let i = 0; running && performance.now() < deadline; i++) {
    try {
      await work(i);
    } catch (e) {
      error(`${(e as Error).message}`);
    }
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -1000) next = performance.now(); // behind: do not burst to catch up
  }
}

const peers: Peer[] = [];
for (let t = 0; t < TORRENTS; t++) {
  for (let k = 0; k < PEERS_PER_TORRENT; k++) {
    const n = peers.length;
    peers.push({
      torrent: t,
      port: 1024 + n,
      peerId: `-SK0001-${String(n).padStart(12, "0")}`,
      state: "absent",
    });
  }
}

/** Announces for the peers it owns (so each peer's announces happen in order). */
async function announceWorker(w: number): Promise<void> {
  const mine = peers.filter((_, i) => i % ANNOUNCE_WORKERS === w);
  const rand = rng(1000 + w);
  const udp = new UdpClient();
  try {
    await paced(RATES.announce * RATE / ANNOUNCE_WORKERS, async () => {
      const p = mine[Math.floor(rand() * mine.length)];
      // What this peer does next, and what it becomes if the tracker takes it.
      let event = AnnounceEvent.None;
      let left = p.state === "seeder" ? 0 : 500;
      let next = p.state;
      const r = rand();
      if (p.state === "absent") {
        event = AnnounceEvent.Started;
        left = r < 0.2 ? 0 : 1000;
        next = left === 0 ? "seeder" : "leecher";
      } else if (r < 0.05) {
        event = AnnounceEvent.Stopped;
        next = "absent";
      } else if (p.state === "leecher" && r < 0.2) {
        event = AnnounceEvent.Completed;
        left = 0;
        next = "seeder";
      }
      const hash = hashes[p.torrent];
      if (rand() < 0.6) {
        const word = ["", "completed", "started", "stopped"][event];
        const { status, body } = await httpGet(announceQuery(hash, p, word, left));
        if (status !== 200 || isFailure(body)) {
          throw new Error(`HTTP announce: ${status} ${latin1.decode(body.subarray(0, 80))}`);
        }
        did.httpAnnounceOk++;
      } else {
        const reply = await udp.announce(hash, p, event, left);
        if (reply.kind !== "announce") {
          throw new Error(`UDP announce: ${JSON.stringify(reply).slice(0, 100)}`);
        }
        did.udpAnnounceOk++;
      }
      if (event === AnnounceEvent.Completed && p.state === "leecher") completed[p.torrent]++;
      p.state = next;
    });
  } finally {
    await udp.close();
  }
}

async function scrapeWorker(): Promise<void> {
  const rand = rng(7);
  const udp = new UdpClient();
  const some = () =>
    Array.from(
      { length: 1 + Math.floor(rand() * 5) },
      () => hashes[Math.floor(rand() * hashes.length)],
    );
  try {
    await paced(RATES.scrape * RATE, async (i) => {
      if (i % 2 === 0) {
        const q = some().map((h) => `info_hash=${pct(h)}`).join("&");
        const { status, body } = await httpGet(`/scrape?${q}`);
        if (status !== 200 || isFailure(body)) throw new Error(`HTTP scrape: ${status}`);
        did.httpScrapes++;
      } else {
        await udp.scrape(some());
        did.udpScrapes++;
      }
    });
  } finally {
    await udp.close();
  }
}

/** Refusals on purpose: unknown torrents over both protocols, queries missing a field. */
async function refusalWorker(): Promise<void> {
  const rand = rng(11);
  const udp = new UdpClient();
  const stranger: Peer = {
    torrent: -1,
    port: 65000,
    peerId: "-SK0001-stranger0000",
    state: "absent",
  };
  try {
    await paced(RATES.refusal * RATE, async (i) => {
      const unknown = Array.from({ length: 20 }, () => String.fromCharCode(rand() * 256)).join("");
      if (i % 3 === 0) {
        const { body } = await httpGet(announceQuery(unknown, stranger, "", 1));
        if (!latin1.decode(body).includes("torrent not found")) throw new Error("no refusal");
        did.httpAnnounceRefused++;
      } else if (i % 3 === 1) {
        const { body } = await httpGet(`/announce?info_hash=${pct(hashes[0])}&port=1&left=0`);
        if (!latin1.decode(body).includes("missing peer_id")) throw new Error("no bad query");
        did.httpBadQueries++;
      } else {
        const r = await udp.announce(unknown, stranger, AnnounceEvent.None, 1);
        if (r.kind !== "error" || r.message !== "torrent not found") {
          throw new Error(`UDP refusal: ${JSON.stringify(r).slice(0, 80)}`);
        }
        did.udpAnnounceRefused++;
      }
    });
  } finally {
    await udp.close();
  }
}

async function pageWorker(): Promise<void> {
  const base = `http://127.0.0.1:${HTTP_PORT}`;
  await paced(RATES.page * RATE, async (i) => {
    const hex = binaryToHex(hashes[i % hashes.length]);
    const paths = [
      "/stat",
      `/peers?info_hash=${hex}`,
      `/file/${hex}.torrent`,
      "/api/stats.json",
      `/api/torrents/${hex}.json`,
      "/metrics",
      "/feed.atom",
      `/badge/${hex}.svg`,
    ];
    const path = paths[i % paths.length];
    const res = await fetch(base + path);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    did.pages++;
  });
}

/** Waits until the torrent `hex` is (or is no longer) tracked, by the API. */
async function tracked(hex: string, want: boolean): Promise<void> {
  const end = performance.now() + 15_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${HTTP_PORT}/api/torrents/${hex}.json`);
    await res.arrayBuffer();
    if ((res.status === 200) === want) return;
    if (performance.now() > end) throw new Error(`${hex} ${want ? "not" : "still"} tracked`);
    await sleep(100);
  }
}

/** ctl status, releases and retirements through the control socket, files dropped and removed. */
async function controlWorker(): Promise<void> {
  const ctl = await ControlClient.connect(controlPath, 5000);
  const visitor: Peer = {
    torrent: -1,
    port: 64000,
    peerId: "-SK0001-visitor00000",
    state: "absent",
  };
  try {
    await paced(0.5 * RATE, async (i) => {
      await ctl.request("status");
      did.ctlStatus++;
      const bytes = torrentBytes(`extra ${i}`);
      const hash = parseMetainfo(bytes).infoHashV1!;
      if (i % 5 === 1) {
        // Released through ctl: tracked at once; two announces; retired.
        await ctl.request("release-torrent", { data: bytes.toBase64() });
        did.released++;
      } else if (i % 5 === 3) {
        // Dropped into the directory (complete, then renamed in), found by the watcher.
        const tmp = join(torrentDir, "drop", `.extra-${i}.tmp`);
        await Deno.writeFile(tmp, bytes);
        await Deno.rename(tmp, join(torrentDir, "drop", `extra-${i}.torrent`));
        await tracked(binaryToHex(hash), true);
        did.dropped++;
      } else return;
      for (const left of [10, 0]) {
        const { body } = await httpGet(announceQuery(hash, visitor, "", left));
        if (isFailure(body)) throw new Error(`announce on a new torrent: ${latin1.decode(body)}`);
        did.httpAnnounceOk++;
      }
      if (i % 5 === 1) {
        await ctl.request("retire-torrent", { hash: binaryToHex(hash) });
        did.retired++;
      } else {
        await Deno.remove(join(torrentDir, "drop", `extra-${i}.torrent`));
        await tracked(binaryToHex(hash), false);
      }
    });
  } finally {
    ctl.close();
  }
}

// ---- run ----

const samples: { at: number; rss: number }[] = [];
const sampler = setInterval(() => {
  samples.push({ at: (performance.now() - started) / 1000, rss: rss() });
}, SAMPLE_MS);
samples.push({ at: 0, rss: rss() });
console.log(
  `soak: ${SECONDS} s against pid ${PID} (http ${HTTP_PORT}, udp ${UDP_PORT}), ` +
    `${TORRENTS} torrents × ${PEERS_PER_TORRENT} peers, rate ×${RATE}`,
);
const progress = setInterval(() => {
  const s = samples[samples.length - 1];
  const live = peers.filter((p) => p.state !== "absent").length;
  console.log(
    `  ${s.at.toFixed(0).padStart(4)} s  RSS ${(s.rss / 2 ** 20).toFixed(1)} MiB  ` +
      `peers ${live}  announces ${did.httpAnnounceOk + did.udpAnnounceOk}  ` +
      `errors ${errors.length}`,
  );
}, 60_000);
await Promise.all([
  ...Array.from({ length: ANNOUNCE_WORKERS }, (_, w) => announceWorker(w)),
  scrapeWorker(),
  refusalWorker(),
  pageWorker(),
  controlWorker(),
]);
running = false;
clearInterval(sampler);
clearInterval(progress);
samples.push({ at: (performance.now() - started) / 1000, rss: rss() });
const elapsed = (performance.now() - started) / 1000;

// ---- compare ----

const metricsText = await (await fetch(`http://127.0.0.1:${HTTP_PORT}/metrics`)).text();
const stats = await (await fetch(`http://127.0.0.1:${HTTP_PORT}/api/stats.json`)).json();
const statPage = await (await fetch(`http://127.0.0.1:${HTTP_PORT}/stat`)).text();

function metric(name: string, labels: string): number {
  const line = metricsText.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
}
const statCounter = (id: string) =>
  Number(new RegExp(`id="${id}">([\\d\\s\u2009\u202f]+)<`).exec(statPage)?.[1].replace(/\D/g, ""));

const model = { seeders: 0, leechers: 0 };
for (const p of peers) {
  if (p.state === "seeder") model.seeders++;
  if (p.state === "leecher") model.leechers++;
}
const announcesTotal = did.httpAnnounceOk + did.httpAnnounceRefused + did.udpAnnounceOk +
  did.udpAnnounceRefused;
const checks: [string, number, number][] = [
  ["/stat announces", statCounter("announces"), announcesTotal],
  ["/stat scrapes", statCounter("scrapes"), did.httpScrapes + did.udpScrapes],
  ["/stat refused", statCounter("failures"), did.httpAnnounceRefused + did.udpAnnounceRefused],
  [
    "metrics http announces ok",
    metric("hefur_announces_total", 'protocol="http",result="ok"'),
    did.httpAnnounceOk,
  ],
  [
    "metrics http announces failed",
    metric("hefur_announces_total", 'protocol="http",result="failure"'),
    did.httpAnnounceRefused + did.httpBadQueries,
  ],
  [
    "metrics udp announces ok",
    metric("hefur_announces_total", 'protocol="udp",result="ok"'),
    did.udpAnnounceOk,
  ],
  [
    "metrics udp announces failed",
    metric("hefur_announces_total", 'protocol="udp",result="failure"'),
    did.udpAnnounceRefused,
  ],
  [
    "metrics http scrapes",
    metric("hefur_scrapes_total", 'protocol="http",result="ok"'),
    did.httpScrapes,
  ],
  [
    "metrics udp scrapes",
    metric("hefur_scrapes_total", 'protocol="udp",result="ok"'),
    did.udpScrapes,
  ],
  [
    "metrics bad queries",
    metric("hefur_errors_total", 'kind="http_bad_query"'),
    did.httpBadQueries,
  ],
  ["metrics http timeouts", metric("hefur_errors_total", 'kind="http_timeout"'), 0],
  ["metrics udp bad ids", metric("hefur_errors_total", 'kind="udp_bad_connection_id"'), 0],
  ["metrics udp exceptions", metric("hefur_errors_total", 'kind="udp_exception"'), 0],
  ["torrents", stats.totals.torrents, TORRENTS],
  ["seeders", stats.totals.seeders, model.seeders],
  ["leechers", stats.totals.leechers, model.leechers],
  ["completed", stats.totals.completed, completed.reduce((a, b) => a + b, 0)],
];

child.kill("SIGTERM");
const status = await child.status;
await stderrDone;
const logged = stderr.split("\n").filter((l) => /: (error|fatal|critical):/i.test(l));

// ---- report ----

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const third = elapsed / 3;
const middle = samples.filter((s) => s.at >= third && s.at < 2 * third).map((s) => s.rss);
const last = samples.filter((s) => s.at >= 2 * third).map((s) => s.rss);
const middleMax = Math.max(...middle);
const lastMax = Math.max(...last);
const growth = lastMax - middleMax;
const judged = elapsed >= 120 && middle.length > 0 && last.length > 0;
const plateau = !judged || growth <= 0.05 * middleMax || growth <= 8 * 2 ** 20;

console.log(`\nsoak: ${elapsed.toFixed(0)} s, server exit code ${status.code}`);
const per = (n: number) => `${n} (${(n / elapsed).toFixed(1)}/s)`;
console.log(`  announces: HTTP ${per(did.httpAnnounceOk)}, UDP ${per(did.udpAnnounceOk)}`);
console.log(`  scrapes:   HTTP ${per(did.httpScrapes)}, UDP ${per(did.udpScrapes)}`);
console.log(
  `  refusals:  unknown torrent HTTP ${did.httpAnnounceRefused} UDP ${did.udpAnnounceRefused}, ` +
    `bad queries ${did.httpBadQueries}`,
);
console.log(
  `  pages ${did.pages}, ctl status ${did.ctlStatus}, released+retired ${did.released}/` +
    `${did.retired}, dropped+removed ${did.dropped}`,
);
console.log(`  peers at the end: ${model.seeders} seeders, ${model.leechers} leechers`);
const minuteMax = new Map<number, number>();
for (const s of samples) {
  const m = Math.floor(s.at / 60);
  minuteMax.set(m, Math.max(minuteMax.get(m) ?? 0, s.rss));
}
console.log(
  `  RSS (MiB, max per minute): ${[...minuteMax.values()].map(mib).join(" ")}`,
);
console.log(
  `  RSS middle third max ${mib(middleMax)} MiB, last third max ${mib(lastMax)} MiB: ` +
    (!judged
      ? "not judged (under 2 minutes)"
      : plateau
      ? "plateau"
      : `still growing (+${mib(growth)} MiB)`),
);
let bad = 0;
for (const [what, got, want] of checks) {
  const ok = got === want;
  if (!ok) bad++;
  console.log(`  ${ok ? "✓" : "✗"} ${what}: server ${got}, generator ${want}`);
}
for (const e of errors) console.log(`  error: ${e}`);
for (const l of logged) console.log(`  server logged: ${l}`);
await Deno.remove(dir, { recursive: true });
const failed = bad > 0 || errors.length > 0 || logged.length > 0 || status.code !== 0 ||
  !plateau;
console.log(failed ? "soak: FAILED" : "soak: ok");
Deno.exit(failed ? 1 : 0);
