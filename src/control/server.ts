/**
 * The control socket server: accepts `hefur ctl` connections on a Unix socket and answers
 * {@link ControlRequest}s with a handler (see ./protocol.ts for the wire format).
 *
 * Unlike the original (reference §11.1): the socket is owner-only (0600, in a directory nobody
 * else can write), a live server on the same path is detected and refused instead of silently
 * unlinked, a failure to listen is an error, connections are served concurrently up to a bound,
 * a request once begun must be complete within a short deadline, and a connection idle between
 * requests is closed after a while. When the bound is reached, the
 * connection that has waited longest without sending a request is closed to make room, so idle
 * connections cannot lock the operator out; a newcomer is refused only when every connection is
 * busy with a command.
 *
 * @module
 */
import process from "node:process";
import { getLogger } from "../log/mod.ts";
import {
  type Command,
  ControlError,
  decodeRequest,
  encodeError,
  encodeResult,
  LineSplitter,
  LineTooLongError,
  MAX_LINE_BYTES,
} from "./protocol.ts";
import { openAppendSafelySync } from "../sandbox/safe_files.ts";
import { prepareSocketDir } from "./socket_path.ts";
import { AcceptBackoff } from "../net/accept_backoff.ts";

const log = getLogger("control");
const encoder = new TextEncoder();

/** Runs one command; throws {@link ControlError} for expected failures. */
export type ControlHandler = (
  cmd: Command,
  args: Record<string, unknown>,
) => unknown | Promise<unknown>;

/** Bounds of the control server. */
export interface ControlServerLimits {
  /**
   * Connections served at once. A newcomer past it closes the connection idle longest, or is
   * answered `unavailable` when none is idle.
   */
  maxConnections: number;
  /**
   * A request line must be complete this long (ms) after its first byte, or the connection is
   * closed: a deadline, not an idle time that each byte renews.
   */
  requestTimeoutMs: number;
  /**
   * A connection that begins no request this long (ms) after connecting or after its previous
   * answer is closed (blank lines do not count). Idle connections are also the first closed to
   * make room for a newcomer.
   */
  idleTimeoutMs: number;
  /** Longest request line (bytes). */
  maxLineBytes: number;
}

/**
 * Defaults: room for scripts and operators at once, a request deadline well above what a local
 * client needs to send one line, a generous idle time for scripts that keep a connection, a
 * `.torrent` in base64 per line.
 */
export const DEFAULT_CONTROL_LIMITS: ControlServerLimits = {
  maxConnections: 64,
  requestTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxLineBytes: MAX_LINE_BYTES,
};

/** The control socket cannot be set up; the message says why and where. */
export class ControlSocketError extends Error {
  /** The socket path. */
  readonly path: string;

  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ControlSocketError";
    this.path = path;
  }
}

/** How long a stale-socket probe waits for a live server to accept. */
const PROBE_MS = 1000;
/** How long close() lets in-flight answers (like `quit`'s) finish. */
const DRAIN_MS = 2000;

/** A listening control server. */
export class ControlServer {
  readonly path: string;
  /** Directories created for the socket, outermost first (a privilege drop hands them over). */
  readonly createdDirs: readonly string[];
  readonly #listener: Deno.UnixListener;
  readonly #handler: ControlHandler;
  readonly #limits: ControlServerLimits;
  readonly #lock: Deno.FsFile;
  readonly #ino: number | null;
  readonly #open = new Map<Deno.Conn, Promise<void>>();
  readonly #backoff = new AcceptBackoff("control", "control socket", () => this.#open.size);
  /** Connections waiting for a request → since when; the first is the one idle longest. */
  readonly #waiting = new Map<Deno.Conn, number>();
  /** Connections closed to make room that have not finished yet: they no longer count. */
  readonly #evicted = new Set<Deno.Conn>();
  readonly #accepting: Promise<void>;
  #closing = false;

  private constructor(
    path: string,
    createdDirs: string[],
    listener: Deno.UnixListener,
    lock: Deno.FsFile,
    handler: ControlHandler,
    limits: ControlServerLimits,
  ) {
    this.path = path;
    this.createdDirs = createdDirs;
    this.#listener = listener;
    this.#lock = lock;
    this.#handler = handler;
    this.#limits = limits;
    this.#ino = Deno.lstatSync(path).ino;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Listens on `path`. A leftover socket of a dead server is replaced; a live one (it accepts a
   * connection) is an error, as are a non-socket file at `path` and an unsafe directory.
   * A lock file beside the socket (`<path>.lock`) keeps two servers starting at once apart.
   */
  static async listen(
    path: string,
    handler: ControlHandler,
    limits: Partial<ControlServerLimits> = {},
  ): Promise<ControlServer> {
    let createdDirs: string[];
    try {
      createdDirs = await prepareSocketDir(path);
    } catch (e) {
      throw new ControlSocketError(`control socket ${path}: ${(e as Error).message}`, path, {
        cause: e,
      });
    }
    let lock: Deno.FsFile;
    try {
      // Never through a link: one planted at the lock's path is refused, its target untouched.
      lock = openAppendSafelySync(`${path}.lock`, 0o600).file;
    } catch (e) {
      throw new ControlSocketError(`control socket ${path}: ${(e as Error).message}`, path, {
        cause: e,
      });
    }
    try {
      if (!(await lock.tryLock(true))) {
        throw new ControlSocketError(
          `control socket ${path}: another Hefur holds ${path}.lock (is one already running?)`,
          path,
        );
      }
      await removeStaleSocket(path);
      const listener = listenPrivately(path);
      return new ControlServer(path, createdDirs, listener, lock, handler, {
        ...DEFAULT_CONTROL_LIMITS,
        ...limits,
      });
    } catch (e) {
      lock.close();
      if (e instanceof ControlSocketError) throw e;
      throw new ControlSocketError(`control socket ${path}: ${(e as Error).message}`, path, {
        cause: e,
      });
    }
  }

  /** Files a privilege drop must hand over to the new user: directories, socket, lock file. */
  ownedPaths(): string[] {
    return [...this.createdDirs, this.path, `${this.path}.lock`];
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#open.size;
  }

  /**
   * Stops accepting, lets answers in flight finish (briefly), closes every connection and
   * removes the socket file (if it is still the one this server created).
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    await this.#accepting;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#open.values()),
      new Promise((r) => timer = setTimeout(r, DRAIN_MS)),
    ]);
    clearTimeout(timer);
    for (const conn of this.#open.keys()) closeQuietly(conn);
    await Promise.all(this.#open.values());
    try {
      if (Deno.lstatSync(this.path).ino === this.#ino) Deno.removeSync(this.path);
    } catch { /* gone already */ }
    try {
      this.#lock.unlockSync();
    } catch { /* closing releases it anyway */ }
    this.#lock.close();
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#closing) return;
        await this.#backoff.failed(e); // out of descriptors: wait, rather than spin
        continue;
      }
      this.#backoff.succeeded();
      if (this.#open.size - this.#evicted.size >= this.#limits.maxConnections) {
        const idle = this.#waiting.keys().next();
        if (idle.done) {
          const busy = new ControlError("unavailable", "too many control connections; try again");
          this.#track(conn, writeLine(conn, encodeError(busy)).catch(() => {}));
          continue;
        }
        // Make room: the connection that has waited longest without asking anything goes.
        log.info("control: {n} connections open; closing the one idle longest", {
          n: this.#open.size,
        });
        this.#evict(idle.value);
      }
      this.#track(conn, this.#serve(conn));
    }
  }

  #track(conn: Deno.Conn, work: Promise<void>): void {
    const done = work.finally(() => {
      closeQuietly(conn);
      this.#open.delete(conn);
      this.#waiting.delete(conn);
      this.#evicted.delete(conn);
    });
    this.#open.set(conn, done);
  }

  #evict(conn: Deno.Conn): void {
    this.#waiting.delete(conn);
    this.#evicted.add(conn);
    closeQuietly(conn);
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const lines = new LineSplitter(this.#limits.maxLineBytes);
    const buf = new Uint8Array(64 * 1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let requestBegun = false;
    const closeIn = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => closeQuietly(conn), ms);
    };
    // A request begun (bytes without a newline yet) must end within its deadline.
    const checkBegun = () => {
      if (requestBegun || lines.pending === 0) return;
      requestBegun = true;
      closeIn(this.#limits.requestTimeoutMs);
    };
    // Not running a command: the idle time runs, and the connection may be closed to make room.
    const waiting = () => {
      this.#waiting.set(conn, performance.now());
      requestBegun = false;
      closeIn(this.#limits.idleTimeoutMs);
      checkBegun();
    };
    const busy = () => {
      this.#waiting.delete(conn);
      clearTimeout(timer);
    };
    waiting();
    try {
      while (!this.#closing) {
        const n = await conn.read(buf);
        if (n === null) return;
        let received: string[];
        try {
          received = lines.push(buf.subarray(0, n));
        } catch (e) {
          if (!(e instanceof LineTooLongError)) throw e;
          const error = new ControlError("too_large", `request ${e.message}`);
          await writeLine(conn, encodeError(error));
          return;
        }
        const requests = received.filter((line) => line.trim() !== "");
        if (requests.length === 0) {
          checkBegun();
          continue;
        }
        busy();
        for (const line of requests) await writeLine(conn, await this.#answer(line));
        waiting();
      }
    } catch {
      // The client went away, missed its deadline or was closed to make room.
    } finally {
      busy();
    }
  }

  async #answer(line: string): Promise<string> {
    let id: number | string | null = null;
    try {
      const req = decodeRequest(line);
      id = req.id;
      log.info("{cmd} requested", { cmd: req.cmd });
      return encodeResult(id, await this.#handler(req.cmd, req.args));
    } catch (e) {
      if (e instanceof ControlError) {
        log.info("answered {code}: {error}", { code: e.code, error: e.message });
        return encodeError(new ControlError(e.code, e.message, e.id ?? id));
      }
      log.error("command failed: {error}", { error: e });
      return encodeError(new ControlError("internal", (e as Error).message ?? String(e), id));
    }
  }
}

/** Removes a dead server's socket at `path`; throws if a live server answers there. */
async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isSocket) {
    throw new ControlSocketError(
      `control socket ${path}: a file that is not a socket is in the way; refusing to replace it`,
      path,
    );
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const probe = Deno.connect({ transport: "unix", path });
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), PROBE_MS));
    const result = await Promise.race([probe, timeout]);
    if (result === "timeout") probe.then(closeQuietly, () => {});
    else closeQuietly(result);
    throw new ControlSocketError(
      `control socket ${path}: a Hefur is already running there (stop it first, or choose another --control-socket)`,
      path,
    );
  } catch (e) {
    if (e instanceof ControlSocketError) throw e;
    if (!(e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.NotFound)) {
      throw e;
    }
  } finally {
    clearTimeout(timer);
  }
  // Nobody listens: a leftover of a server that died without cleaning up.
  log.warning("replacing stale control socket {path}", { path });
  await Deno.remove(path);
}

/**
 * Binds the socket with owner-only permissions from the first moment (umask, where the sandbox
 * allows it; the 0700 directory covers the instant otherwise), then 0600.
 */
function listenPrivately(path: string): Deno.UnixListener {
  let old: number | undefined;
  try {
    old = process.umask(0o177);
  } catch { /* not allowed: chmod below */ }
  try {
    const listener = Deno.listen({ transport: "unix", path });
    Deno.chmodSync(path, 0o600);
    return listener;
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

async function writeLine(conn: Deno.Conn, line: string): Promise<void> {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
