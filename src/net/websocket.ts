/**
 * A server-side WebSocket over a `Deno.Conn` that the HTTP server handed over after the opening
 * handshake. The framing rules live in `protocol/websocket_frame.ts`; this module only moves bytes:
 * a read loop, a bounded write queue, the closing handshake, and keep-alive pings.
 *
 * Time is driven from outside: the owner calls {@link WebSocketConnection.tick} from one shared
 * timer (as the HTTP server does for its deadlines), instead of a timer per connection.
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import {
  CloseCode,
  encodeClose,
  encodeFrame,
  encodeText,
  FrameReader,
  Opcode,
  WebSocketProtocolError,
} from "../protocol/websocket_frame.ts";
import { concatBytes } from "../protocol/binary.ts";

/** Bounds of one connection; each protects against a hostile or broken client. */
export interface WebSocketLimits {
  /** Largest message from the client (all fragments) in bytes; larger ones close with 1009. */
  maxMessageBytes: number;
  /**
   * Milliseconds without a frame from the client before the connection is closed. A ping is sent
   * halfway, so a live client (browsers answer pings by themselves) is never cut.
   */
  idleTimeoutMs: number;
  /** Bytes waiting to be sent; a client that reads slower than it is sent to is cut off. */
  maxQueuedBytes: number;
}

/** Defaults: 64 KiB messages, two minutes of silence, 1 MiB of backlog. */
export const DEFAULT_WEBSOCKET_LIMITS: WebSocketLimits = {
  maxMessageBytes: 64 * 1024,
  idleTimeoutMs: 120_000,
  maxQueuedBytes: 1024 * 1024,
};

/** WebSocket connections are served by the HTTP listeners: their problems log under `http`. */
const log = getLogger("http");

/** Milliseconds to wait for the client's close frame once ours is sent. */
const CLOSE_GRACE_MS = 2000;

/** What the owner of a connection hears. */
export interface WebSocketHandlers {
  /** A whole text message. Binary messages are refused with 1003 (nothing Hefur speaks uses them). */
  onText(ws: WebSocketConnection, text: string): void;
  /** The connection is gone; called once. */
  onClose(ws: WebSocketConnection): void;
}

/** One WebSocket connection. */
export class WebSocketConnection {
  /** The client's address (as the listener decided it, reverse proxies considered). */
  readonly remoteIp: string;
  readonly #conn: Deno.Conn;
  readonly #limits: WebSocketLimits;
  readonly #handlers: WebSocketHandlers;
  readonly #reader: FrameReader;
  readonly #clock: () => number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  /** "open", "closing" (our close frame is queued or sent), "closed" (socket closed). */
  #state: "open" | "closing" | "closed" = "open";
  #closingSince = 0;
  /** Close the socket as soon as the queue is flushed. */
  #endAfterFlush = false;
  #lastHeard: number;
  #pinged = false;
  readonly #reading: Promise<void>;
  #flushing: Promise<void> = Promise.resolve();
  readonly #closed = Promise.withResolvers<void>();

  constructor(
    conn: Deno.Conn,
    buffered: Uint8Array,
    remoteIp: string,
    limits: WebSocketLimits,
    handlers: WebSocketHandlers,
    clock: () => number = () => performance.now(),
  ) {
    this.#conn = conn;
    this.remoteIp = remoteIp;
    this.#limits = limits;
    this.#handlers = handlers;
    this.#clock = clock;
    this.#lastHeard = clock();
    this.#reader = new FrameReader({ maxMessageBytes: limits.maxMessageBytes, fromClient: true });
    this.#reading = this.#readLoop(buffered);
  }

  /** Resolves when the socket is closed and its pending reads and writes have settled. */
  async done(): Promise<void> {
    await this.#closed.promise;
    await this.#reading;
    await this.#flushing;
  }

  /** True once the socket is closed. */
  get closed(): boolean {
    return this.#state === "closed";
  }

  /** True until the closing handshake starts. */
  get open(): boolean {
    return this.#state === "open";
  }

  /** Queues a text message. Returns false when the connection is closing or was cut for lag. */
  send(text: string): boolean {
    if (this.#state !== "open") return false;
    return this.#enqueue(encodeText(text));
  }

  /** Starts the closing handshake; the socket closes when the client answers or after a grace. */
  close(code: number = CloseCode.Normal, reason = ""): void {
    if (this.#state !== "open") return;
    this.#state = "closing";
    this.#closingSince = this.#clock();
    this.#enqueue(encodeClose(code, reason));
  }

  /** Closes the socket at once, without a closing handshake. */
  terminate(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#queue = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#closed.resolve();
    this.#handlers.onClose(this);
  }

  /**
   * Applies the idle timeout and the close grace at time `now`; sends a ping to a client silent for
   * half the idle timeout. The owner calls it from its timer.
   */
  tick(now: number = this.#clock()): void {
    if (this.#state === "closing") {
      if (now - this.#closingSince > CLOSE_GRACE_MS) this.terminate();
      return;
    }
    if (this.#state !== "open") return;
    const silent = now - this.#lastHeard;
    if (silent > this.#limits.idleTimeoutMs) {
      this.#fail(CloseCode.GoingAway, "idle timeout");
    } else if (!this.#pinged && silent > this.#limits.idleTimeoutMs / 2) {
      this.#pinged = true;
      this.#enqueue(encodeFrame(Opcode.Ping, new Uint8Array()));
    }
  }

  async #readLoop(buffered: Uint8Array): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    try {
      // After a close or a protocol error, reading stops; the write side closes the socket once
      // the close frame is out (or the grace runs out).
      if (buffered.length > 0 && !this.#receive(buffered)) return;
      while (this.#state !== "closed") {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        if (!this.#receive(buf.subarray(0, n))) return;
      }
    } catch {
      // Reset by the client, or closed by us: either way the connection is over.
    }
    this.terminate();
  }

  /** Handles bytes from the client; returns false when reading should stop. */
  #receive(bytes: Uint8Array): boolean {
    const frames = this.#reader.frames;
    let events;
    try {
      events = this.#reader.push(bytes);
    } catch (e) {
      if (e instanceof WebSocketProtocolError) {
        this.#fail(e.code, e.message);
        return false;
      }
      throw e;
    }
    if (this.#reader.frames !== frames) {
      this.#lastHeard = this.#clock();
      this.#pinged = false;
    }
    for (const ev of events) {
      switch (ev.kind) {
        case "text":
          if (this.#state !== "open") break;
          try {
            this.#handlers.onText(this, ev.text);
          } catch (e) {
            log.error("websocket handler failed: {error}", { error: e });
            this.#fail(CloseCode.InternalError, "internal error");
            return false;
          }
          break;
        case "binary":
          this.#fail(CloseCode.UnsupportedData, "binary messages are not accepted");
          return false;
        case "ping":
          if (this.#state === "open") this.#enqueue(encodeFrame(Opcode.Pong, ev.data));
          break;
        case "pong":
          break;
        case "close":
          if (this.#state === "open") {
            // Echo the client's code (RFC 6455 §5.5.1), then close once it is sent.
            this.#state = "closing";
            this.#closingSince = this.#clock();
            const code = ev.code === CloseCode.NoStatus ? CloseCode.Normal : ev.code;
            this.#enqueue(encodeClose(code));
            this.#endAfterFlush = true;
            if (!this.#writing) this.terminate();
          } else {
            this.terminate();
          }
          return false;
      }
    }
    return true;
  }

  /** Fails the connection: a close frame with `code`, then the socket closes once it is sent. */
  #fail(code: number, reason: string): void {
    if (this.#state === "closed") return;
    if (this.#state === "open") {
      this.#state = "closing";
      this.#closingSince = this.#clock();
      this.#enqueue(encodeClose(code, reason));
    }
    this.#endAfterFlush = true;
    if (!this.#writing) this.terminate();
  }

  #enqueue(frame: Uint8Array): boolean {
    if (this.#state === "closed") return false;
    if (this.#queued + frame.length > this.#limits.maxQueuedBytes) {
      this.terminate();
      return false;
    }
    this.#queue.push(frame);
    this.#queued += frame.length;
    if (!this.#writing) this.#flushing = this.#flush();
    return true;
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && this.#state !== "closed") {
        // Everything queued goes out in one write; it counts against the bound until written.
        const queue = this.#queue;
        const data = queue.length === 1 ? queue[0] : concatBytes(queue);
        this.#queue = [];
        let at = 0;
        while (at < data.length) at += await this.#conn.write(data.subarray(at));
        this.#queued -= data.length;
      }
    } catch {
      this.terminate();
    } finally {
      this.#writing = false;
    }
    if (this.#endAfterFlush) this.terminate();
  }
}
