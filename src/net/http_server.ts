/**
 * A small HTTP/1.1 server over `Deno.listen` / `Deno.listenTls`.
 *
 * Why not `Deno.serve`: a tracker must cut off slow and idle clients after `--http-timeout`, bound
 * the request head and the number of open connections, and choose per response whether the
 * connection stays open. `Deno.serve` exposes none of these, so this module reads requests itself.
 * It only does what a tracker needs: GET/HEAD-style requests without bodies, one response per
 * request, keep-alive on request.
 *
 * Framing is strict (RFC 9112), because a request that a reverse proxy in front reads one way and
 * this server another is how one client smuggles requests in as another: a head must end each line
 * with CRLF; header names are tokens right before their colon; values hold no control characters;
 * no line is folded. Hefur takes no request bodies, so `Transfer-Encoding` is refused, and so is a
 * `Content-Length` that is repeated (even with the same value), not plain digits, or a list; a valid
 * non-zero length gets 413. Each of these is answered once and the connection closed, so bytes after
 * the head are never read as a request.
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import { socketIp } from "../protocol/ip.ts";
import { AcceptBackoff } from "./accept_backoff.ts";
import { formatHostPort } from "./host_port.ts";

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
   * Most requests answered on one keep-alive connection; the last one is answered with
   * `connection: close`. Bounds what one connection can queue up by pipelining (the requests not
   * yet read wait in the client's socket, since at most `maxHeadBytes` are read ahead). Default 32.
   */
  maxRequestsPerConnection?: number;
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
  maxRequestsPerConnection: 32,
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
const utf8 = new TextDecoder();
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
 * Buffers reused from one connection to the next, one to read requests into and one to write
 * responses from: a fresh `Uint8Array` costs an allocation outside the V8 heap (about a
 * microsecond, measured) and work for the garbage collector, at thousands of connections per
 * second. A longer head or response gets a buffer of its own.
 */
const BUFFER = 2048;
const buffers: Uint8Array[] = [];
/** Free buffers kept at most; the rest go to the garbage collector. */
const MAX_POOLED = 512;

function takeBuffer(): Uint8Array {
  return buffers.pop() ?? new Uint8Array(BUFFER);
}

function giveBuffer(buf: Uint8Array | undefined): void {
  if (buf !== undefined && buf.length === BUFFER && buffers.length < MAX_POOLED) buffers.push(buf);
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
  /** `limits.maxRequestsPerConnection` with its default. */
  readonly #maxRequests: number;
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
    this.#maxRequests = limits.maxRequestsPerConnection ??
      DEFAULT_HTTP_LIMITS.maxRequestsPerConnection!;
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
    const { hostname, port } = this.addr;
    const backoff = new AcceptBackoff(
      "http",
      `${this.#secure ? "HTTPS" : "HTTP"} on ${formatHostPort(hostname, port)}`,
      () => this.#open.size,
    );
    while (!this.#closing) {
      let conn: Deno.Conn;
      const listener = this.#listener;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (this.#closing) return;
        if (listener !== this.#listener) continue; // replaced: go on with the new one
        if (e instanceof Deno.errors.BadResource) return;
        await backoff.failed(e); // out of descriptors: wait, rather than spin
        continue; // or a failed handshake or another transient accept error
      }
      backoff.succeeded();
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
    let out: Uint8Array | undefined;
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
          if (headEnd < 0) {
            // A head that can no longer become valid is refused now, not at the timeout: lines
            // ending in a bare LF would otherwise never show the CRLFCRLF the server waits for.
            const hopeless = hopelessHead(buf, filled - n, filled);
            if (hopeless !== undefined) {
              await writeAll(conn, plain(400, hopeless));
              return false;
            }
          }
        }
        const req = parseHead(buf, headEnd, remoteIp, remote.port, this.#secure);
        if (typeof req === "string") {
          await writeAll(conn, plain(400, req));
          return false;
        }
        if (req.framingError !== undefined) {
          await writeAll(conn, plain(400, req.framingError));
          return false;
        }
        if (req.contentLength !== undefined && !isZero(req.contentLength)) {
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
        const keepAlive = res.keepAlive === true && wantsKeepAlive(req) && !this.#closing &&
          c.served + 1 < this.#maxRequests;
        out ??= takeBuffer();
        const bytes = serializeResponse(res, keepAlive, req.method === "HEAD", out);
        // One write nearly always takes it all: awaited here, without another async frame.
        const wrote = await conn.write(bytes);
        if (wrote < bytes.length) await writeRest(conn, bytes, wrote);
        c.served++;
        if (!keepAlive) return false;
        c.deadline = this.#deadline();
      }
    } catch {
      // The client went away or was cut off: nothing to answer.
      return false;
    } finally {
      giveBuffer(buf);
      giveBuffer(out);
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
  await writeRest(conn, data, await conn.write(data));
}

/** Writes what is left of `data` from `at` on, when one write did not take it all. */
async function writeRest(conn: Deno.Conn, data: Uint8Array, at: number): Promise<void> {
  while (at < data.length) at += await conn.write(data.subarray(at));
}

/**
 * Where the head's CRLFCRLF starts in `buf[from, to)`, or -1. A Horspool search: the byte under
 * the pattern's last position says how far the pattern may move (4 past a byte that is neither CR
 * nor LF), so a head is read about a quarter of its bytes (measured 3.6 times faster than testing
 * every position, and 2.3 times faster than looking for each LF with `indexOf`).
 */
function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i + 3 < to) {
    const c = buf[i + 3];
    if (c === 10) {
      if (buf[i + 2] === 13 && buf[i + 1] === 10 && buf[i] === 13) return i;
      i += 2; // this LF may be the pattern's first one
    } else if (c === 13) i += 1; // this CR may be the pattern's second one
    else i += 4;
  }
  return -1;
}

function wantsKeepAlive(req: HttpRequest): boolean {
  const connection = requestHeader(req, "connection")?.toLowerCase();
  if (connection === "close") return false;
  return req.target !== "" &&
    (connection === "keep-alive" || requestHeader(req, ":version") === "1.1");
}

/**
 * A request as the server parsed it. Its header map is built on first use: a tracker's announce
 * never reads it, and {@link requestHeader} finds one header without it.
 */
export class ParsedRequest implements HttpRequest {
  #map: Map<string, string> | undefined;

  constructor(
    readonly method: string,
    readonly target: string,
    readonly path: string,
    readonly query: string,
    /** `1.0` or `1.1`. */
    readonly version: string,
    /** The header lines, CRLF-separated, already checked to be well formed. */
    readonly fields: string,
    // The headers the server itself reads on every request, found while the head was checked (one
    // pass over the header lines), so that asking for them scans nothing.
    readonly connection: string | undefined,
    readonly upgrade: string | undefined,
    readonly contentLength: string | undefined,
    readonly transferEncoding: string | undefined,
    /**
     * Why the head cannot frame a request safely (see the module's comment), or undefined. Kept
     * apart from the parse: the head is well formed, but the server must refuse it.
     */
    readonly framingError: string | undefined,
    readonly remoteIp: string,
    readonly remotePort: number,
    readonly secure: boolean,
  ) {}

  get headers(): Map<string, string> {
    if (this.#map === undefined) {
      const headers = new Map<string, string>();
      headers.set(":version", this.version);
      const f = this.fields;
      for (let at = 0; at < f.length;) {
        let next = f.indexOf("\r\n", at);
        if (next < 0) next = f.length;
        const colon = f.indexOf(":", at);
        const name = f.slice(at, colon).trim().toLowerCase();
        if (!headers.has(name)) headers.set(name, f.slice(colon + 1, next).trim());
        at = next + 2;
      }
      this.#map = headers;
    }
    return this.#map;
  }

  set headers(map: Map<string, string>) {
    this.#map = map;
  }

  /** The first value of header `name` (lower case), read from the header lines in place. */
  header(name: string): string | undefined {
    if (this.#map !== undefined) return this.#map.get(name);
    switch (name) {
      case ":version":
        return this.version;
      case "connection":
        return this.connection;
      case "upgrade":
        return this.upgrade;
      case "content-length":
        return this.contentLength;
      case "transfer-encoding":
        return this.transferEncoding;
    }
    const f = this.fields;
    for (let at = 0; at < f.length;) {
      let next = f.indexOf("\r\n", at);
      if (next < 0) next = f.length;
      const colon = f.indexOf(":", at);
      if (nameIs(f, at, colon, name)) return f.slice(colon + 1, next).trim();
      at = next + 2;
    }
    return undefined;
  }
}

/** What `String.prototype.trim` removes, among the characters a byte can be. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0;
}

/** `String.fromCharCode(c).toLowerCase()` for the characters a byte can be, as a code. */
function lowerByte(c: number): number {
  return (c >= 65 && c <= 90) || (c >= 0xc0 && c <= 0xde && c !== 0xd7) ? c + 32 : c;
}

/** True when `f[start, end)`, trimmed and lower-cased, is `name` (lower case). */
function nameIs(f: string, start: number, end: number, name: string): boolean {
  while (start < end && isSpace(f.charCodeAt(start))) start++;
  while (end > start && isSpace(f.charCodeAt(end - 1))) end--;
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    if (lowerByte(f.charCodeAt(start + i)) !== name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The first value of header `name` (lower case) of a request, without building its header map
 * when the server parsed it. For hot paths (the router's upgrade check, the reverse-proxy header).
 */
export function requestHeader(req: HttpRequest, name: string): string | undefined {
  return req instanceof ParsedRequest ? req.header(name) : req.headers.get(name);
}

/** 1 for the characters of a token (RFC 9110 §5.6.2: a header name), 0 for the others below 128. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = TOKEN[c + 32] = 1;

/**
 * True when `f[start, end)`, less spaces and tabs around it, is 1 to 15 ASCII digits: a
 * `Content-Length` that every reader of it understands the same (no sign, no list, no other
 * white space, short enough to be exact as a number).
 */
function isDigits(f: string, start: number, end: number): boolean {
  while (start < end && (f.charCodeAt(start) === 32 || f.charCodeAt(start) === 9)) start++;
  while (end > start && (f.charCodeAt(end - 1) === 32 || f.charCodeAt(end - 1) === 9)) end--;
  if (end === start || end - start > 15) return false;
  for (let i = start; i < end; i++) {
    const c = f.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** True when a (checked) `Content-Length` is zero, leading zeros allowed. */
function isZero(length: string): boolean {
  for (let i = 0; i < length.length; i++) if (length.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * Why the unfinished head in `buf[0, to)` can never become a valid one, judged from the bytes that
 * arrived from `from` on (and the one before, for a CR); undefined while it still may. Only asked
 * while a head is incomplete, which is rare: a request nearly always comes in one read.
 */
function hopelessHead(buf: Uint8Array, from: number, to: number): string | undefined {
  for (let i = buf.indexOf(10, from); i >= 0 && i < to; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) return "lines must end with CRLF";
  }
  // The method: 1 to 16 capital letters, then a space.
  let i = 0;
  while (i < to && buf[i] >= 65 && buf[i] <= 90) i++;
  if (i < to && (i === 0 || buf[i] !== 32)) return "malformed request line";
  if (i > 16) return "malformed request line";
  return undefined;
}

/** True when bytes `at…` of `buf` spell `text` (ASCII). */
function bytesAre(buf: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (buf[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * Parses a request head (`buf[0, end)`, without the final CRLFCRLF); returns a message when it is
 * malformed. The request line must read `METHOD SP target SP HTTP/1.x` (method: 1 to 16 capital
 * letters; target: no white space); every header line needs a name before a colon. Exported for
 * the fuzzer (tests/fuzz), which checks it against the request's plain header map.
 */
export function parseHead(
  buf: Uint8Array,
  end: number,
  remoteIp: string,
  remotePort: number,
  secure: boolean,
): ParsedRequest | string {
  // The request line, checked byte by byte; the target's bytes are gathered into `ascii` on the way.
  let ascii = 0;
  let i = 0;
  while (i < end && buf[i] >= 65 && buf[i] <= 90) i++;
  if (i === 0 || i > 16 || i >= end || buf[i] !== 32) return "malformed request line";
  const methodEnd = i++;
  const targetStart = i;
  for (; i < end; i++) {
    const c = buf[i];
    if (isSpace(c)) break;
    ascii |= c;
  }
  // The version takes 9 bytes, and the line ends there: at a CRLF or with the head.
  const lineEnd = i + 9;
  if (
    i === targetStart || buf[i] !== 32 || lineEnd > end ||
    (lineEnd < end && (buf[lineEnd] !== 13 || buf[lineEnd + 1] !== 10)) ||
    !bytesAre(buf, i + 1, "HTTP/1.") || (buf[i + 8] !== 48 && buf[i + 8] !== 49)
  ) return "malformed request line";
  const targetEnd = i;
  const version = buf[i + 8] === 49 ? "1.1" : "1.0";

  // One character per byte; the parts are slices of it. Heads are ASCII as a rule, and then the
  // UTF-8 decoder gives the same string several times faster than String.fromCharCode (measured).
  // The method and version were checked to be ASCII; the header lines are checked here.
  // Each line ends with CRLF; no other control character (tab aside) may appear, and no line may
  // begin with white space (obsolete line folding).
  for (let j = lineEnd; j < end; j++) {
    const c = buf[j];
    ascii |= c;
    if (c < 32 || c === 127) {
      if (c === 9) continue;
      if (c !== 13 || buf[j + 1] !== 10 || j + 1 >= end) return "malformed header line";
      j++;
      if (buf[j + 1] === 32 || buf[j + 1] === 9) return "folded header lines are not accepted";
    }
  }
  const bytes = buf.subarray(0, end);
  const text: string = ascii < 0x80
    ? utf8.decode(bytes)
    : String.fromCharCode.apply(null, bytes as unknown as number[]);
  const fields = lineEnd + 2 < end ? text.slice(lineEnd + 2) : "";
  let connection: string | undefined;
  let upgrade: string | undefined;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let framingError: string | undefined;
  for (let at = 0; at < fields.length;) {
    let next = fields.indexOf("\r\n", at);
    if (next < 0) next = fields.length;
    const colon = fields.indexOf(":", at);
    if (colon <= at || colon > next) return "malformed header line";
    // A name is a token and touches its colon (RFC 9112 §5.1: white space there must get a 400).
    for (let k = at; k < colon; k++) {
      const c = fields.charCodeAt(k);
      if (c >= 128 || TOKEN[c] === 0) return "malformed header name";
    }
    // The server's own headers, told apart by the length of their name first (a repeated header
    // keeps its first value, as in the header map).
    switch (colon - at) {
      case 7:
        if (upgrade === undefined && nameIs(fields, at, colon, "upgrade")) {
          upgrade = fields.slice(colon + 1, next).trim();
        }
        break;
      case 10:
        if (connection === undefined && nameIs(fields, at, colon, "connection")) {
          connection = fields.slice(colon + 1, next).trim();
        }
        break;
      case 14:
        if (nameIs(fields, at, colon, "content-length")) {
          if (contentLength !== undefined) framingError ??= "repeated Content-Length";
          else {
            contentLength = fields.slice(colon + 1, next).trim();
            if (!isDigits(fields, colon + 1, next)) framingError ??= "malformed Content-Length";
          }
        }
        break;
      case 17:
        if (nameIs(fields, at, colon, "transfer-encoding")) {
          transferEncoding ??= fields.slice(colon + 1, next).trim();
          framingError ??= "Transfer-Encoding is not accepted";
        }
        break;
    }
    at = next + 2;
  }
  const method = methodEnd === 3 && bytesAre(buf, 0, "GET")
    ? "GET"
    : methodEnd === 4 && bytesAre(buf, 0, "HEAD")
    ? "HEAD"
    : text.slice(0, methodEnd);
  const target = text.slice(targetStart, targetEnd);
  const q = target.indexOf("?");
  const hash = target.indexOf("#");
  const pathEnd = q >= 0 ? q : hash >= 0 ? hash : target.length;
  const query = q >= 0 ? target.slice(q + 1, hash > q ? hash : target.length) : "";
  return new ParsedRequest(
    method,
    target,
    target.slice(0, pathEnd),
    query,
    version,
    fields,
    connection,
    upgrade,
    contentLength,
    transferEncoding,
    framingError,
    remoteIp,
    remotePort,
    secure,
  );
}

function plain(status: number, message: string): Uint8Array {
  return serializeResponse(
    { status, body: message + "\n", headers: { "content-type": "text/plain; charset=utf-8" } },
    false,
    false,
  );
}

/** Text whose characters are all below 0x80, as bytes; anything else through the encoder. */
function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return encoder.encode(text);
    out[i] = c;
  }
  return out;
}

function headerLines(headers: Record<string, string> | undefined): string {
  let text = "";
  if (headers !== undefined) { for (const k in headers) text += k + ": " + headers[k] + "\r\n"; }
  return text;
}

function statusLine(status: number): string {
  return "HTTP/1.1 " + status + " " + (REASONS[status] ?? "Unknown") + "\r\n";
}

/**
 * Status line and header lines of responses whose header object is frozen, encoded once per
 * status: the tracker's replies share one frozen object, so their head costs no string building.
 * Unfrozen objects (pages build their own) are encoded each time, since they could change.
 */
const encodedHeads = new WeakMap<Record<string, string>, Map<number, Uint8Array>>();

function headBytes(status: number, headers: Record<string, string> | undefined): Uint8Array {
  if (headers === undefined || !Object.isFrozen(headers)) {
    return asciiBytes(statusLine(status) + headerLines(headers));
  }
  let byStatus = encodedHeads.get(headers);
  if (byStatus === undefined) encodedHeads.set(headers, byStatus = new Map());
  let bytes = byStatus.get(status);
  if (bytes === undefined) {
    byStatus.set(status, bytes = asciiBytes(statusLine(status) + headerLines(headers)));
  }
  return bytes;
}

const CONTENT_LENGTH = asciiBytes("content-length: ");
const CLOSE = asciiBytes("\r\nconnection: close\r\n\r\n");
const KEEP_ALIVE = asciiBytes("\r\nconnection: keep-alive\r\n\r\n");

/**
 * Turns a response into the bytes sent on the wire (one buffer, one write): written into `into`
 * when given and large enough (the result is then a view of it), else into a new buffer.
 */
export function serializeResponse(
  res: HttpResponse,
  keepAlive: boolean,
  head: boolean,
  into?: Uint8Array,
): Uint8Array {
  // A 101 switches protocols: its own headers say everything, and no body follows.
  if (res.status === 101) {
    return encoder.encode(statusLine(res.status) + headerLines(res.headers) + "\r\n");
  }
  const body = typeof res.body === "string"
    ? encoder.encode(res.body)
    : res.body ?? new Uint8Array();
  const prefix = headBytes(res.status, res.headers);
  const end = keepAlive ? KEEP_ALIVE : CLOSE;
  let digits = 1;
  for (let p = 10; p <= body.length; p *= 10) digits++;
  const headLength = prefix.length + CONTENT_LENGTH.length + digits + end.length;
  const length = headLength + (head ? 0 : body.length);
  const out = into !== undefined && into.length >= length
    ? into.subarray(0, length)
    : new Uint8Array(length);
  out.set(prefix);
  out.set(CONTENT_LENGTH, prefix.length);
  const at = prefix.length + CONTENT_LENGTH.length;
  for (let i = at + digits - 1, n = body.length; i >= at; i--) {
    out[i] = 48 + n % 10;
    n = Math.floor(n / 10);
  }
  out.set(end, headLength - end.length);
  if (!head) out.set(body, headLength);
  return out;
}
