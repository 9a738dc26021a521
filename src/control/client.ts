/**
 * The client side of the control protocol, used by `hefur ctl`. Every wait is bounded: a missing
 * or silent server is an error after a timeout, never a hang (the original's client hung
 * forever: reference §11.3).
 *
 * @module
 */
import {
  ControlError,
  decodeResponse,
  encodeRequest,
  LineSplitter,
  LineTooLongError,
  MAX_LINE_BYTES,
} from "./protocol.ts";

/** No server could be reached at the socket path; the message says why. */
export class ControlUnreachableError extends Error {
  /** The socket path. */
  readonly path: string;

  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ControlUnreachableError";
    this.path = path;
  }
}

/**
 * The server did not answer in time, closed the connection without answering, or answered with
 * something that is not a control response (not JSON, another request's id, too long): whatever
 * listens there is not speaking the protocol, so nothing more is asked of it.
 */
export class ControlNoAnswerError extends Error {
  /** The command that got no answer. */
  readonly command: string;

  constructor(message: string, command: string) {
    super(message);
    this.name = "ControlNoAnswerError";
    this.command = command;
  }
}

const encoder = new TextEncoder();

/** Resolves with `promise`, or rejects with `onTimeout()` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(onTimeout()), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A connection to a running Hefur's control socket. */
export class ControlClient {
  readonly path: string;
  readonly #conn: Deno.UnixConn;
  readonly #lines = new LineSplitter(MAX_LINE_BYTES);
  readonly #received: string[] = [];
  #nextId = 1;

  private constructor(path: string, conn: Deno.UnixConn) {
    this.path = path;
    this.#conn = conn;
  }

  /** Connects to `path`, failing with {@link ControlUnreachableError} within `timeoutMs`. */
  static async connect(path: string, timeoutMs: number): Promise<ControlClient> {
    const attempt = Deno.connect({ transport: "unix", path });
    try {
      const conn = await within(attempt, timeoutMs, () =>
        new ControlUnreachableError(
          `${path}: no answer within ${timeoutMs} ms (is the server stuck?)`,
          path,
        ));
      return new ControlClient(path, conn);
    } catch (e) {
      attempt.then((c) => c.close(), () => {});
      if (e instanceof ControlUnreachableError) throw e;
      const why = e instanceof Deno.errors.NotFound
        ? "no such socket (is hefur serve running? see --socket)"
        : e instanceof Deno.errors.ConnectionRefused
        ? "nothing listens there (a stale socket: the server is not running)"
        : e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
        ? `permission denied (${(e as Error).message}; the socket belongs to the server's user)`
        : (e as Error).message;
      throw new ControlUnreachableError(`${path}: ${why}`, path, { cause: e });
    }
  }

  /**
   * Sends one command and waits at most `timeoutMs` for its answer. Resolves with the result;
   * throws {@link ControlError} when the server refuses, {@link ControlNoAnswerError} when it
   * does not answer.
   */
  async request(
    cmd: string,
    args: Record<string, unknown> = {},
    timeoutMs = 10_000,
  ): Promise<unknown> {
    const id = this.#nextId++;
    const noAnswer = () =>
      new ControlNoAnswerError(`${cmd}: no answer from ${this.path} within ${timeoutMs} ms`, cmd);
    const line = await within(
      (async () => {
        await this.#write(encodeRequest(id, cmd, args) + "\n");
        return await this.#readLine(cmd);
      })(),
      timeoutMs,
      noAnswer,
    );
    const malformed = (why: string) =>
      new ControlNoAnswerError(
        `${cmd}: the answer from ${this.path} is not a control response (${why})`,
        cmd,
      );
    let response;
    try {
      response = decodeResponse(line);
    } catch (e) {
      throw malformed((e as Error).message);
    }
    if (response.id !== id && response.id !== null) {
      throw malformed(`answer for request ${JSON.stringify(response.id)}, expected ${id}`);
    }
    if (!response.ok) throw new ControlError(response.code, response.error, response.id);
    return response.result;
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #write(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  async #readLine(cmd: string): Promise<string> {
    const buf = new Uint8Array(64 * 1024);
    while (this.#received.length === 0) {
      const n = await this.#conn.read(buf);
      if (n === null) {
        throw new ControlNoAnswerError(
          `${cmd}: the server closed the connection without answering`,
          cmd,
        );
      }
      try {
        this.#received.push(...this.#lines.push(buf.subarray(0, n)));
      } catch (e) {
        if (!(e instanceof LineTooLongError)) throw e;
        throw new ControlNoAnswerError(`${cmd}: the server's answer is a ${e.message}`, cmd);
      }
    }
    return this.#received.shift()!;
  }
}
