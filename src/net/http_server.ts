/**
 * A small HTTP/1.1 server over `Deno.listen` / `Deno.listenTls`.
 *
 * Why not `Deno.serve`: a tracker must cut off slow and idle clients after `--http-timeout`, bound
 * the request head and the number of open connections, and choose per response whether the
 * connection stays open. `Deno.serve` exposes none of these, so this module reads requests itself.
 * It only does what a tracker needs: GET/HEAD-style requests without bodies, one response per
 * request, keep-alive on request.
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import { socketIp } from "../protocol/ip.ts";

/** A parsed request head. */
export interface HttpRequest {
  method: string;
  /** The request target as sent (`/announce?info_hash=…`). */
  target: string;
  /** The path part of the target, not decoded. */
  path: string;
  /** The query part of the target, without `?`, not decoded. */
  query: string;
  /** Header names in lower case; a repeated header keeps its first value. */
  headers: Map<string, string>;
  /** The TCP peer's address (canonical, v4-mapped undone). */
  remoteIp: string;
  remotePort: number;
  /** True on the HTTPS listener. */
  secure: boolean;
}

/** What a handler answers. */
export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Keep the connection open for another request if the client asked for it. Default false. */
  keepAlive?: boolean;
  /**
   * With status 101 (Switching Protocols): takes the connection over once the head is sent. The
   * server forgets the connection (no more deadlines, not closed by it) and passes the bytes the
   * client already sent after its request head.
   */
  takeover?: (conn: Deno.Conn, buffered: Uint8Array) => void;
}

/** Turns a request into a response. */
export type HttpHandler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** Bounds of the server; every one protects against a hostile or broken client. */
export interface HttpServerLimits {
  /** Milliseconds a client has to send a request head, and then to take the whole response. */
  timeoutMs: number;
  /** Largest request head (request line + headers) in bytes. */
  maxHeadBytes: number;
  /** Most connections open at once; past it new connections are closed at once. */
  maxConnections: number;
  /**
   * Milliseconds a graceful {@linkcode HttpServer.close} gives requests in flight to be answered
   * before it cuts what is left. Never more than `timeoutMs`. Default 1000.
   */
  drainMs?: number;
}

/** Defaults: the reference's 2 s timeout and a head a little larger than its 5 KiB. */
export const DEFAULT_HTTP_LIMITS: HttpServerLimits = {
  timeoutMs: 2000,
  maxHeadBytes: 8192,
  maxConnections: 4096,
  drainMs: 1000,
};

const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  206: "Partial Content",
  304: "Not Modified",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

const encoder = new TextEncoder();
const log = getLogger("http");

interface Connection {
  conn: Deno.Conn;
  /**
   * Milliseconds (the server's coarse clock) after which the connection is cut; while the handler
   * works, Infinity or the end of a drain.
   */
  deadline: number;
  /** Waiting for the first byte of a request: nothing of the client's is in flight. */
  idle: boolean;
  /** Shut for writing by a graceful close while idle: it can answer nothing more. */
  shut: boolean;
  /** Responses written on it so far. */
  served: number;
}

/**
 * Read buffers, reused from one connection to the next: a fresh `Uint8Array` per connection costs
 * an allocation outside the V8 heap and work for the garbage collector, at thousands of
 * connections per second. A head longer than this gets a buffer of its own.
 */
const READ_BUFFER = 2048;
const readBuffers: Uint8Array[] = [];
/** Free buffers kept at most; the rest go to the garbage collector. */
const MAX_POOLED = 256;

function takeBuffer(): Uint8Array {
  return readBuffers.pop() ?? new Uint8Array(READ_BUFFER);
}

function giveBuffer(buf: Uint8Array): void {
  if (buf.length === READ_BUFFER && readBuffers.length < MAX_POOLED) readBuffers.push(buf);
}

/**
 * A running server; `close()` stops accepting, answers the requests in flight, and closes the
 * connections.
 */
export class HttpServer {
  #listener: Deno.Listener;
  readonly #handler: HttpHandler;
  readonly #limits: HttpServerLimits;
  readonly #secure: boolean;
  readonly #open = new Set<Connection>();
  readonly #ticker: ReturnType<typeof setInterval>;
  /** How often deadlines are checked, in milliseconds. */
  readonly #tickMs: number;
  readonly #accepting: Promise<void>;
  #closing = false;
  /** Deadline of every connection once a graceful close began (Infinity until then). */
  #drainUntil = Infinity;
  /** Resolved when the last connection is gone after close() began. */
  readonly #drained = Promise.withResolvers<void>();
  /**
   * `performance.now()` as of the last tick: deadlines are checked once per tick anyway, and
   * reading the clock for each request costs a call into the runtime.
   */
  #now = performance.now();
  /** Connections refused because `maxConnections` were open. */
  refused = 0;
  /**
   * Connections cut for missing the deadline: a request head not sent in time, a response not
   * taken in time, a handler past the end of a drain.
   */
  timedOut = 0;
  /**
   * Keep-alive connections closed after waiting `timeoutMs` for another request: housekeeping,
   * not a client's fault, so not counted in {@linkcode timedOut}.
   */
  idleClosed = 0;

  constructor(
    listener: Deno.Listener,
    handler: HttpHandler,
    limits: HttpServerLimits = DEFAULT_HTTP_LIMITS,
    secure = false,
  ) {
    this.#listener = listener;
    this.#handler = handler;
    this.#limits = limits;
    this.#secure = secure;
    // One ticker checks every deadline, instead of a timer per request.
    this.#tickMs = Math.min(250, limits.timeoutMs / 4);
    this.#ticker = setInterval(() => this.#cutLate(), this.#tickMs);
    this.#accepting = this.#acceptLoop();
  }

  /** The address the server listens on. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /**
   * Accepts from `next` from now on and closes the listener used so far (a renewed TLS
   * certificate: `next` listens on the same address with `reusePort`). Connections already open
   * are not touched. After close(), `next` is closed at once.
   */
  replaceListener(next: Deno.Listener): void {
    if (this.#closing) {
      closeQuietly(next);
      return;
    }
    const old = this.#listener;
    this.#listener = next;
    closeQuietly(old);
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#open.size;
  }

  /**
   * Stops gracefully: no new connections; a request already received is answered (with
   * `connection: close`) and one being received may still complete, both within `drainMs`; an
   * idle keep-alive connection is shut at once. Resolves when every connection is closed.
   *
   * Idle connections are shut for writing first (FIN) and closed once the client closes its side
   * or the drain ends, so that a request racing the shutdown meets a clean end of stream rather
   * than a reset, and the client can send it again elsewhere.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#listener.close();
      } catch { /* already closed */ }
      await this.#accepting;
      const drainMs = Math.min(this.#limits.drainMs ?? 1000, this.#limits.timeoutMs);
      this.#drainUntil = performance.now() + drainMs;
      for (const c of this.#open) {
        c.deadline = Math.min(c.deadline, this.#drainUntil);
        if (c.idle) {
          c.shut = true;
          shutWrite(c.conn);
        }
      }
      this.#forget(undefined);
    }
    await this.#drained.promise;
    clearInterval(this.#ticker);
  }

  /** Drops `c` from the open set; resolves the drain when closing and nothing is left. */
  #forget(c: Connection | undefined): void {
    if (c !== undefined) this.#open.delete(c);
    if (this.#closing && this.#open.size === 0) this.#drained.resolve();
  }

  /**
   * The deadline for the client's next step: the timeout, capped by a drain. `#now` may be up to
   * one tick old, so one tick is added: a client is never cut before its full timeout, and at the
   * latest two ticks after it.
   */
  #deadline(): number {
    return Math.min(this.#now + this.#limits.timeoutMs + this.#tickMs, this.#drainUntil);
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      const listener = this.#listener;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (this.#closing) return;
        if (listener !== this.#listener) continue; // replaced: go on with the new one
        if (e instanceof Deno.errors.BadResource) return;
        continue; // a failed handshake or a transient accept error
      }
      if (this.#open.size >= this.#limits.maxConnections) {
        this.refused++;
        closeQuietly(conn);
        continue;
      }
      const c: Connection = {
        conn,
        deadline: this.#deadline(),
        idle: true,
        shut: false,
        served: 0,
      };
      this.#open.add(c);
      this.#serve(c);
    }
  }

  #cutLate(): void {
    const now = this.#now = performance.now();
    for (const c of this.#open) {
      if (c.deadline < now) {
        if (c.idle && c.served > 0) this.idleClosed++;
        else this.timedOut++;
        closeQuietly(c.conn);
        this.#forget(c);
      }
    }
  }

  /**
   * Serves requests on one connection until it ends, is cut, or a handler takes it over (then
   * resolves true); closes it unless taken over, and forgets it.
   */
  async #serve(c: Connection): Promise<boolean> {
    const { conn } = c;
    const remote = conn.remoteAddr as Deno.NetAddr;
    const remoteIp = socketIp(remote.hostname);
    let buf = takeBuffer();
    let filled = 0;
    let handedOver = false;
    try {
      while (true) {
        // Read until the head is complete.
        let headEnd = findHeadEnd(buf, 0, filled);
        while (headEnd < 0) {
          if (filled === buf.length) {
            if (buf.length >= this.#limits.maxHeadBytes) {
              await writeAll(conn, plain(431, "request head too large"));
              return false;
            }
            const grown = new Uint8Array(Math.min(buf.length * 2, this.#limits.maxHeadBytes));
            grown.set(buf);
            giveBuffer(buf);
            buf = grown;
          }
          c.idle = filled === 0;
          if (c.idle && this.#closing) return false; // between requests: nothing to answer
          const n = await conn.read(buf.subarray(filled));
          // A request that raced the shutdown cannot be answered; the client saw the stream end.
          if (n === null || c.shut) return false;
          c.idle = false;
          filled += n;
          headEnd = findHeadEnd(buf, Math.max(0, filled - n - 3), filled);
        }
        const req = parseHead(buf, headEnd, remoteIp, remote.port, this.#secure);
        if (typeof req === "string") {
          await writeAll(conn, plain(400, req));
          return false;
        }
        if (
          req.headers.has("transfer-encoding") || Number(req.headers.get("content-length") ?? 0) > 0
        ) {
          await writeAll(conn, plain(413, "request bodies are not accepted"));
          return false;
        }
        // Bytes after the head belong to the next (pipelined) request.
        const rest = headEnd + 4;
        if (rest < filled) buf.copyWithin(0, rest, filled);
        filled -= rest;

        // The handler's own time is not the client's fault (but a drain bounds it).
        c.deadline = this.#drainUntil;
        let res: HttpResponse;
        try {
          // Most handlers answer at once: awaiting a plain value would still cost a turn.
          const answer = this.#handler(req);
          res = answer instanceof Promise ? await answer : answer;
        } catch (e) {
          log.error("handler failed for {path}: {error}", { path: req.path, error: e });
          res = {
            status: 500,
            body: "internal error\n",
            headers: { "content-type": "text/plain" },
          };
        }
        c.deadline = this.#deadline();
        if (res.takeover !== undefined) {
          if (res.status !== 101 || this.#closing) {
            await writeAll(conn, plain(503, "not switching protocols: the server is stopping"));
            return false;
          }
          await writeAll(conn, serializeResponse(res, false, true));
          if (!this.#open.has(c)) return false; // cut by the deadline meanwhile
          this.#forget(c);
          handedOver = true;
          res.takeover(conn, buf.slice(0, filled));
          return true;
        }
        const keepAlive = res.keepAlive === true && wantsKeepAlive(req) && !this.#closing;
        await writeAll(conn, serializeResponse(res, keepAlive, req.method === "HEAD"));
        c.served++;
        if (!keepAlive) return false;
        c.deadline = this.#deadline();
      }
    } catch {
      // The client went away or was cut off: nothing to answer.
      return false;
    } finally {
      giveBuffer(buf);
      if (!handedOver) {
        closeQuietly(conn);
        this.#forget(c);
      }
    }
  }
}

/** Sends FIN: the client reads the end of the stream, and may still send until it closes. */
function shutWrite(conn: Deno.Conn): void {
  conn.closeWrite().catch(() => {/* already closed */});
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let at = await conn.write(data);
  while (at < data.length) at += await conn.write(data.subarray(at));
}

function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

function wantsKeepAlive(req: HttpRequest): boolean {
  const connection = req.headers.get("connection")?.toLowerCase();
  if (connection === "close") return false;
  return req.target !== "" &&
    (connection === "keep-alive" || req.headers.get(":version") === "1.1");
}

const REQUEST_LINE = /^([A-Z]{1,16}) (\S+) HTTP\/1\.([01])$/;

/** Parses a request head; returns a message when it is malformed. */
function parseHead(
  buf: Uint8Array,
  end: number,
  remoteIp: string,
  remotePort: number,
  secure: boolean,
): HttpRequest | string {
  // One character per byte, in one call (a head is at most maxHeadBytes, far below the limit on
  // arguments).
  const text: string = String.fromCharCode.apply(
    null,
    buf.subarray(0, end) as unknown as number[],
  );
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd < 0) lineEnd = end;
  const m = REQUEST_LINE.exec(text.slice(0, lineEnd));
  if (m === null) return "malformed request line";
  const headers = new Map<string, string>();
  headers.set(":version", m[3] === "1" ? "1.1" : "1.0");
  for (let at = lineEnd + 2; at < end;) {
    let next = text.indexOf("\r\n", at);
    if (next < 0) next = end;
    const colon = text.indexOf(":", at);
    if (colon <= at || colon > next) return "malformed header line";
    const name = text.slice(at, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, text.slice(colon + 1, next).trim());
    at = next + 2;
  }
  const target = m[2];
  const q = target.indexOf("?");
  const hash = target.indexOf("#");
  const pathEnd = q >= 0 ? q : hash >= 0 ? hash : target.length;
  const query = q >= 0 ? target.slice(q + 1, hash > q ? hash : target.length) : "";
  return {
    method: m[1],
    target,
    path: target.slice(0, pathEnd),
    query,
    headers,
    remoteIp,
    remotePort,
    secure,
  };
}

function plain(status: number, message: string): Uint8Array {
  return serializeResponse(
    { status, body: message + "\n", headers: { "content-type": "text/plain; charset=utf-8" } },
    false,
    false,
  );
}

/**
 * The header lines of frozen header objects, already formatted: the tracker's replies share one
 * frozen object, so their head costs no string building. Unfrozen objects (pages build their own)
 * are formatted each time, since they could change.
 */
const formattedHeaders = new WeakMap<Record<string, string>, string>();

function headerLines(headers: Record<string, string> | undefined): string {
  if (headers === undefined) return "";
  let text = formattedHeaders.get(headers);
  if (text !== undefined) return text;
  text = "";
  for (const k in headers) text += k + ": " + headers[k] + "\r\n";
  if (Object.isFrozen(headers)) formattedHeaders.set(headers, text);
  return text;
}

/** Turns a response into the bytes sent on the wire (one buffer, one write). */
export function serializeResponse(
  res: HttpResponse,
  keepAlive: boolean,
  head: boolean,
): Uint8Array {
  const body = typeof res.body === "string"
    ? encoder.encode(res.body)
    : res.body ?? new Uint8Array();
  let text = "HTTP/1.1 " + res.status + " " + (REASONS[res.status] ?? "Unknown") + "\r\n" +
    headerLines(res.headers);
  // A 101 switches protocols: its own headers say everything, and no body follows.
  if (res.status === 101) return encoder.encode(text + "\r\n");
  text += "content-length: " + body.length +
    (keepAlive ? "\r\nconnection: keep-alive\r\n\r\n" : "\r\nconnection: close\r\n\r\n");
  const out = new Uint8Array(text.length * 3 + (head ? 0 : body.length));
  // Heads are ASCII but for rare header values: copy them byte by byte, which is cheaper than a
  // call into the runtime's encoder; let the encoder handle anything else.
  let n = 0;
  for (; n < text.length; n++) {
    const c = text.charCodeAt(n);
    if (c >= 0x80) break;
    out[n] = c;
  }
  if (n < text.length) n = encoder.encodeInto(text, out).written;
  if (head) return out.subarray(0, n);
  out.set(body, n);
  return out.subarray(0, n + body.length);
}
