/**
 * CPU time Hefur's own code spends per HTTP announce over a new connection, without sockets: the
 * real {@link HttpServer} with the routes, admission and metrics of `hefur serve` is handed
 * in-memory connections by a fake listener, each carrying one announce as bench/loadgen.c's
 * `http-close` mode sends it (100 peers in each of 1,000 torrents, `numwant=50`, compact,
 * `Connection: close`, 32 connections at once). What it leaves out is the runtime's socket work
 * (accept, read, write and close ops), which `deno task bench` measures with the rest.
 *
 * Run: `deno run --allow-all --v8-flags=--max-semi-space-size=2 bench/http_handle_bench.ts
 * [SECONDS] [ROUNDS]` (the young generation of `deno task start`: it sets how often the garbage
 * collector runs); add `--cpu-prof --cpu-prof-dir=DIR` before the script and read the profile with
 * `deno run --allow-read bench/profile_summary.ts DIR/*.cpuprofile 40`. It prints the CPU time of
 * the whole process per request (all threads, so the collector's too) for each round, and their
 * median. Measured on the shared 2-core VM: 10.4 µs before the changes of issue 8, 8.0 after.
 *
 * @module
 */
import { cpuUsage } from "node:process";
import { startHefur } from "../src/app.ts";
import { parseServeArgs } from "../src/cli/args.ts";
import { DEFAULT_HTTP_LIMITS, HttpServer } from "../src/net/http_server.ts";
import { BENCH_SERVE_ARGS } from "./load.ts";

const SECONDS = Number(Deno.args[0] ?? 3);
const ROUNDS = Number(Deno.args[1] ?? 5);
const TORRENTS = 1000;
const PEERS = 100_000;
const CONCURRENCY = 32;

// ---- the simulated peers, as bench/loadgen.c makes them ----------------------------------------

const MASK = (1n << 64n) - 1n;

function infoHash(torrent: number): Uint8Array {
  let x = (BigInt(torrent) * 0x9e3779b97f4a7c15n + 12345n) & MASK;
  const out = new Uint8Array(20);
  for (let i = 0; i < 20; i++) {
    x ^= x >> 31n;
    x = (x * 0xbf58476d1ce4e5b9n) & MASK;
    out[i] = Number(x >> 56n);
  }
  return out;
}

const escapedHashes = Array.from({ length: TORRENTS }, (_, t) => {
  let s = "";
  for (const b of infoHash(t)) s += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  return s;
});

function request(peer: number): string {
  const port = 1024 + Math.floor(peer / TORRENTS) % 60000;
  const left = peer % 4 === 0 ? 0 : 1000000 + peer;
  return `GET /announce?info_hash=${escapedHashes[peer % TORRENTS]}&peer_id=-LG0001-${
    String(peer).padStart(12, "0")
  }&port=${port}&uploaded=0&downloaded=0&left=${left}&numwant=50&compact=1 HTTP/1.1\r\n` +
    "Host: 127.0.0.1\r\nUser-Agent: loadgen\r\nConnection: close\r\n\r\n";
}

// Every request once, in one buffer outside the V8 heap, so that the heap holds only Hefur's data.
const encoder = new TextEncoder();
const starts = new Uint32Array(PEERS + 1);
const all = new Uint8Array(PEERS * 300);
for (let p = 0, at = 0; p < PEERS; p++) {
  starts[p] = at;
  at += encoder.encodeInto(request(p), all.subarray(at)).written;
  starts[p + 1] = at;
}

// ---- in-memory connections ----------------------------------------------------------------------

let served = 0;
let replyBytes = 0;
let badReplies = 0;

/** A connection that sends one request, takes the reply, and counts it when closed. */
class FakeConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 6969 };
  #sent = false;
  #got = 0;

  constructor(readonly peer: number, readonly onClose: () => void) {
    this.remoteAddr = { transport: "tcp", hostname: "127.0.0.1", port: 30000 + peer % 30000 };
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.#sent) return Promise.resolve(null);
    this.#sent = true;
    const bytes = all.subarray(starts[this.peer], starts[this.peer + 1]);
    p.set(bytes);
    return Promise.resolve(bytes.length);
  }

  write(p: Uint8Array): Promise<number> {
    // "HTTP/1.1 200": the status digits are bytes 9 to 11.
    if (this.#got === 0 && !(p[9] === 50 && p[10] === 48 && p[11] === 48)) badReplies++;
    this.#got += p.length;
    return Promise.resolve(p.length);
  }

  close(): void {
    replyBytes += this.#got;
    served++;
    this.onClose();
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }
}

/** Hands out connections for peers in turn, `CONCURRENCY` open at once, until told to stop. */
class FakeListener {
  readonly addr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 6969 };
  #open = 0;
  #next = 0;
  #waiting: { resolve: (c: FakeConn) => void; reject: (e: Error) => void } | undefined;
  #closed = false;
  #accepted = 0;

  accept(): Promise<FakeConn> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    // Everything here resolves at once: now and then a macrotask turn, so that timers (the
    // server's deadline ticker, this benchmark's clock) get their turn, as with real sockets.
    if (++this.#accepted % 256 === 0) {
      return new Promise((r) => setTimeout(r, 0)).then(() => this.accept());
    }
    if (this.#open < CONCURRENCY) return Promise.resolve(this.#conn());
    const { promise, resolve, reject } = Promise.withResolvers<FakeConn>();
    this.#waiting = { resolve, reject };
    return promise;
  }

  #conn(): FakeConn {
    this.#open++;
    const peer = this.#next;
    this.#next = (this.#next + 1) % PEERS;
    return new FakeConn(peer, () => {
      this.#open--;
      const w = this.#waiting;
      if (w !== undefined) {
        this.#waiting = undefined;
        w.resolve(this.#conn());
      }
    });
  }

  close(): void {
    this.#closed = true;
    this.#waiting?.reject(new Deno.errors.BadResource("closed"));
    this.#waiting = undefined;
  }
}

// ---- Hefur as `deno task bench` runs it, without listeners --------------------------------------

const hefur = await startHefur({
  ...parseServeArgs([...BENCH_SERVE_ARGS, "--log-level", "warning"]),
  bindAddr: "127.0.0.1",
  httpPort: 0,
  httpsPort: 0,
  udpPort: 0,
  controlSocket: "",
});
const handle = hefur.metrics!.timed(hefur.router.handle);
const listener = new FakeListener();
const server = new HttpServer(listener as unknown as Deno.Listener, handle, DEFAULT_HTTP_LIMITS);

async function runFor(ms: number): Promise<{ requests: number; cpuUs: number; wallMs: number }> {
  const n0 = served;
  const cpu0 = cpuNow();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  return { requests: served - n0, cpuUs: cpuNow() - cpu0, wallMs: performance.now() - t0 };
}

/** CPU time of this process so far, in microseconds. */
function cpuNow(): number {
  const { user, system } = cpuUsage();
  return user + system;
}

// Every peer once: the swarms fill up (and the code warms up).
while (served < PEERS) await new Promise((r) => setTimeout(r, 50));
const perRequest: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const r = await runFor(SECONDS * 1000);
  perRequest.push(r.cpuUs / r.requests);
  console.log(
    `round ${round + 1}: ${Math.round(r.requests / r.wallMs * 1000).toLocaleString("en")} ` +
      `requests/s, ${(r.cpuUs / r.requests).toFixed(2)} µs CPU per request`,
  );
}
perRequest.sort((a, b) => a - b);
const median = perRequest[Math.floor(perRequest.length / 2)];
console.log(
  `median ${median.toFixed(2)} µs CPU per request; ${
    (replyBytes / served).toFixed(0)
  } reply bytes on average; ${badReplies} replies not 200`,
);
await server.close();
await hefur.close();
