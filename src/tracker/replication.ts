/**
 * Several Hefur instances, one swarm: `--store redis://…`. Every instance answers from its own
 * memory store (the same code and cost as `--store memory`) and the instances exchange what
 * changed through a Redis (or Valkey) stream, in batches, off the request path.
 *
 * - **Out**: each announce appends a change record to the tracker's {@link ChangeBatch}; every
 *   {@link ReplicationOptions.flushMs} (or sooner when the batch is full) the batch goes out as
 *   one script call (`PUBLISH_SCRIPT`): it adds the batch's completed events to durable totals
 *   and appends the records to the stream, once per batch id, so a retried batch is never counted
 *   twice. While Redis is away, batches wait in a queue bounded in bytes; past the bound their
 *   records are dropped (counted) and, once Redis is back, the instance sends every peer it
 *   holds again, so the others converge.
 * - **In**: a second connection reads the stream (`XREAD BLOCK`) and applies the other
 *   instances' records to the local swarms, dated by the stream entry's id (Redis's clock).
 * - **Join**: a new instance reads the latest snapshot (every peer one instance held, written by
 *   the instances in turn) and the durable totals, then follows the stream from the snapshot's
 *   position; {@link Replication.start} resolves once it has caught up, or after a bound.
 *
 * Streams rather than Pub/Sub: a stream keeps a minute or two of history, so an instance that
 * lost its connection for a moment (or a joining one) reads what it missed instead of silently
 * losing it, and the snapshot can name a position to follow from.
 *
 * The request path never waits on Redis: it only writes into the batch buffer.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "@redis/client";
import { getLogger } from "../log/mod.ts";
import { ChangeBatch, ChangeReader, decodeCompletions, encodeCompletions } from "./change_batch.ts";
import {
  BATCH_KEY_PREFIX,
  CHANGES_KEY,
  COMPLETED_KEY,
  JOIN_SCRIPT,
  PUBLISH_SCRIPT,
  SNAPSHOT_KEY,
  SNAPSHOT_SCRIPT,
} from "./redis_scripts.ts";
import type { PeerTable } from "./peer_table.ts";
import type { StoreStatus } from "./store.ts";
import type { Tracker } from "./tracker.ts";

const log = getLogger("store");

/** Settings of replication; the defaults suit instances and Redis on one network. */
export interface ReplicationOptions {
  /** Milliseconds between two batches out. */
  flushMs: number;
  /** A batch goes out at once when its records reach this many bytes. */
  maxBatchBytes: number;
  /** Most bytes of batches waiting for Redis; past it new records are dropped (and counted). */
  maxQueuedBytes: number;
  /** Milliseconds of history the stream keeps (older entries are trimmed). */
  historyMs: number;
  /** Milliseconds between two snapshots (by whichever instance's turn it is). */
  snapshotEveryMs: number;
  /** Longest wait in {@link Replication.start} for the first connection and the catch-up. */
  joinTimeoutMs: number;
  /** Milliseconds to establish a connection. */
  connectTimeoutMs: number;
  /** Longest wait between two reconnection attempts. */
  maxReconnectDelayMs: number;
  /** Milliseconds a command may take before it is given up (and retried). */
  timeoutMs: number;
}

/** The defaults of `hefur serve`. */
export const DEFAULT_REPLICATION_OPTIONS: ReplicationOptions = {
  flushMs: 100,
  maxBatchBytes: 1024 * 1024,
  maxQueuedBytes: 64 * 1024 * 1024,
  historyMs: 120_000,
  snapshotEveryMs: 30_000,
  joinTimeoutMs: 10_000,
  connectTimeoutMs: 5000,
  maxReconnectDelayMs: 500,
  timeoutMs: 5000,
};

/** How replication is doing, for `/stat`, the JSON API and `/metrics`. */
export interface ReplicationStats {
  /** Both connections to Redis are up. */
  connected: boolean;
  /** The instance has read the stream up to where it stood when it joined. */
  caughtUp: boolean;
  /**
   * How far behind the other instances this one is, in seconds: the age of the last batch read
   * when it was applied, or, while Redis is away, the time since it was last reached.
   */
  lagSeconds: number;
  /** Batches published (out) and applied from other instances (in). */
  batchesOut: number;
  batchesIn: number;
  /** Batches Redis had already published (a retry after a lost reply), counted once. */
  duplicateBatches: number;
  /** Change records published and applied. */
  changesOut: number;
  changesIn: number;
  /** Change records dropped because the queue for Redis was full. */
  droppedChanges: number;
  /** Batches waiting for Redis, and their bytes. */
  queuedBatches: number;
  queuedBytes: number;
  /** Times every local peer was sent again (after Redis came back). */
  resends: number;
  /** Snapshots written by this instance. */
  snapshots: number;
}

/** The store could not be used at start-up (it refused the credentials). Redacted. */
export class StoreConnectError extends Error {
  override name = "StoreConnectError";
  /** The store's redacted URL. */
  readonly store: string;

  constructor(store: string, reason: string) {
    super(`cannot use the store ${store}: ${reason}`);
    this.store = store;
  }
}

interface Outgoing {
  id: string;
  records: Uint8Array;
  count: number;
  completions: Map<string, number>;
}

type Reply = Buffer | number | null | Reply[];

/** At most one "store unavailable" warning per this many milliseconds. */
const LOG_EVERY_MS = 10_000;
/** Seconds Redis remembers a batch id. */
const BATCH_ID_SECONDS = 600;
/**
 * Stream entries read per XREAD (a batch is at most `maxBatchBytes`, so this bounds a reply to
 * 16 MiB with the defaults), and how long one waits for new entries.
 */
const READ_COUNT = 16;
const READ_BLOCK_MS = 1000;

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
/**
 * Catching up (applying megabytes of changes, writing a snapshot) works in turns of at most
 * `WORK_MS` milliseconds, then leaves the event loop to the listeners for `PAUSE_MS`: a yield of
 * no time would let the UDP loop answer a single datagram per turn (it awaits one receive at a
 * time), and replies would be lost while an instance catches up.
 */
const WORK_MS = 4;
const PAUSE_MS = 2;
/** Bytes of peers a snapshot serializes per turn (about 800 peers: well under `WORK_MS`). */
const SNAPSHOT_CHUNK = 64 * 1024;

/** Paces long work: call {@link turn} often; it pauses when the turn's time is spent. */
class Pacer {
  #start = performance.now();
  #calls = 0;

  /** Resolves at once while the turn lasts (checking the clock every 64 calls), else pauses. */
  turn(): Promise<void> | undefined {
    if ((++this.#calls & 63) !== 0 || performance.now() - this.#start < WORK_MS) return undefined;
    return sleep(PAUSE_MS).then(() => {
      this.#start = performance.now();
    });
  }
}

/** `ms-seq` stream ids compared as numbers; "" and "0-0" come first. */
export function compareIds(a: string, b: string): number {
  const [am, as] = splitId(a);
  const [bm, bs] = splitId(b);
  return am !== bm ? am - bm : as - bs;
}

function splitId(id: string): [number, number] {
  const dash = id.indexOf("-");
  if (dash < 0) return [Number(id) || 0, 0];
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

function text(r: Reply | undefined): string {
  return r instanceof Uint8Array ? Buffer.from(r).toString("latin1") : r == null ? "" : String(r);
}

/** Replication of a {@link Tracker}'s swarms through Redis. Create it with {@link start}. */
export class Replication {
  /** The redacted URL. */
  readonly name: string;
  /** This instance's id in the stream (random per start). */
  readonly instance: string;
  readonly #tracker: Tracker;
  readonly #o: ReplicationOptions;
  readonly #writer;
  readonly #reader;
  readonly #secret: string;
  readonly #batch: ChangeBatch;
  readonly #records = new ChangeReader();
  readonly #pacer = new Pacer();
  readonly #queue: Outgoing[] = [];
  readonly #stats: ReplicationStats = {
    connected: false,
    caughtUp: false,
    lagSeconds: 0,
    batchesOut: 0,
    batchesIn: 0,
    duplicateBatches: 0,
    changesOut: 0,
    changesIn: 0,
    droppedChanges: 0,
    queuedBatches: 0,
    queuedBytes: 0,
    resends: 0,
    snapshots: 0,
  };
  #seq = 0;
  #state: StoreStatus["state"] = "connecting";
  #detail: string | undefined;
  #everReady = false;
  /** Why Redis refused the credentials, when it did before the first connection. */
  #refused: string | undefined;
  #closed = false;
  #lastLog = -Infinity;
  /** Redis's clock minus this machine's, in ms (measured when joining). */
  #offsetMs = 0;
  /** Last stream entry applied; the next read starts after it. */
  #lastId = "0-0";
  /** Completed events of entries up to this id are in the totals read when joining. */
  #countedTo = "0-0";
  /** The stream's last entry when this instance joined: caught up once it is read. */
  #joinTarget = "0-0";
  #needJoin = true;
  #checkGap = false;
  #resendAll = false;
  #resend: Iterator<Outgoing> | undefined;
  #pumping = false;
  #lastContact = Date.now();
  #caughtUp: Promise<void>;
  #markCaughtUp!: () => void;
  #publishSha = "";
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #following: Promise<void> | undefined;
  #snapshotting = false;

  private constructor(url: string, name: string, tracker: Tracker, o: ReplicationOptions) {
    this.name = name;
    this.#tracker = tracker;
    this.#o = o;
    this.instance = crypto.randomUUID().slice(0, 13);
    let secret = "";
    try {
      secret = decodeURIComponent(new URL(url).password);
    } catch { /* no password to scrub */ }
    this.#secret = secret;
    this.#caughtUp = new Promise((ok) => this.#markCaughtUp = ok);
    this.#batch = new ChangeBatch(64 * 1024, o.maxBatchBytes, () => this.#seal());
    this.#writer = this.#client(url, "writer");
    this.#reader = this.#client(url, "reader");
  }

  /**
   * Connects to Redis at `url` (redacted: `name`), joins the other instances and starts
   * replicating `tracker`. Resolves once caught up with the stream, or after
   * `joinTimeoutMs` (saying so in the log: the instance then answers from what it has and keeps
   * catching up). Redis unreachable is not fatal (announces never depend on it); refused
   * credentials are: {@link StoreConnectError}.
   */
  static async start(
    url: string,
    name: string,
    tracker: Tracker,
    options: Partial<ReplicationOptions> = {},
  ): Promise<Replication> {
    const r = new Replication(url, name, tracker, { ...DEFAULT_REPLICATION_OPTIONS, ...options });
    const refused = await r.#connect();
    if (refused !== undefined) {
      await r.close();
      throw new StoreConnectError(name, refused);
    }
    tracker.changes = r.#batch;
    tracker.replicationStatus = () => r.status();
    r.#following = r.#follow();
    r.#timers.push(setInterval(() => {
      r.#seal();
      r.#pump();
    }, r.#o.flushMs));
    const jitter = 0.8 + Math.random() * 0.4;
    r.#timers.push(setInterval(() => r.writeSnapshot(), Math.round(r.#o.snapshotEveryMs * jitter)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<boolean>((ok) =>
      timer = setTimeout(() => ok(false), r.#o.joinTimeoutMs)
    );
    // Unreachable: nothing to catch up with yet (the warning is logged); answer from memory now.
    const joined = r.#everReady
      ? await Promise.race([r.#caughtUp.then(() => true), bound])
      : undefined;
    clearTimeout(timer);
    if (joined === undefined) return r;
    if (joined) {
      log.info("swarms are replicated through {store}: caught up, instance {instance}", {
        store: name,
        instance: r.instance,
      });
    } else {
      log.warning(
        "not caught up with {store} after {seconds} s: answering from what this instance has, " +
          "catching up in the background",
        { store: name, seconds: r.#o.joinTimeoutMs / 1000 },
      );
    }
    return r;
  }

  /** Connected, reconnecting (with why), or catching up. */
  status(): StoreStatus {
    const detail = this.#detail ?? (this.#stats.caughtUp ? undefined : "catching up");
    return { name: this.name, state: this.#state, detail };
  }

  /** Counters and state of replication (a fresh object). */
  stats(): ReplicationStats {
    const s = this.#stats;
    s.connected = this.#writer.isReady && this.#reader.isReady;
    if (!s.connected) s.lagSeconds = (Date.now() - this.#lastContact) / 1000;
    s.queuedBatches = this.#queue.length;
    return { ...s };
  }

  /**
   * Sends what is waiting now (the current batch and the queue); resolves once sent or when Redis
   * cannot be reached. For tests and for a clean stop.
   */
  async flush(): Promise<void> {
    this.#seal();
    while (this.#pumping) await sleep(5);
    await this.#pump();
  }

  /** Resolves once this instance has read the stream as far as it stood when it (re)joined. */
  caughtUp(): Promise<void> {
    return this.#caughtUp;
  }

  /** Sends what is waiting (briefly), stops the timers and closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const t of this.#timers) clearInterval(t);
    if (this.#tracker.changes === this.#batch) {
      if (this.#writer.isReady) {
        await Promise.race([this.flush(), sleep(this.#o.timeoutMs)]);
      }
      this.#tracker.changes = undefined;
      this.#tracker.replicationStatus = undefined;
    }
    this.#closed = true;
    for (const c of [this.#writer, this.#reader]) {
      try {
        c.destroy();
      } catch { /* already closed */ }
    }
    await this.#following?.catch(() => {});
  }

  // --- connections -------------------------------------------------------------------------------

  #client(url: string, role: "writer" | "reader") {
    const o = this.#o;
    const client = createClient({
      url,
      // Fail at once while disconnected: the batch stays queued here, bounded, and is retried.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: o.connectTimeoutMs,
        reconnectStrategy: (retries: number) => {
          if (this.#closed) return false;
          const base = Math.min(50 * 2 ** Math.min(retries, 16), o.maxReconnectDelayMs);
          // Jitter, so that instances that lost Redis together do not return in lockstep.
          return Math.round(base * (0.8 + Math.random() * 0.4));
        },
      },
    }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    client.on("error", (e: Error) => {
      this.#noteRefusal(e);
      const detail = this.#scrub(e.message);
      if (this.#state === "connected") {
        log.warning("lost the store {store}: {detail}; reconnecting, answering from memory", {
          store: this.name,
          detail,
        });
        this.#state = "reconnecting";
      } else log.debug("store {store}: {detail}", { store: this.name, detail });
      this.#detail = detail;
    });
    client.on("ready", () => {
      if (role === "reader" && this.#everReady) this.#checkGap = true;
      if (role === "writer" && this.#everReady) this.#resendAll = true;
      if (this.#writer?.isReady && this.#reader?.isReady) {
        if (this.#everReady) log.info("reconnected to the store {store}", { store: this.name });
        this.#everReady = true;
        this.#state = "connected";
        this.#detail = undefined;
        this.#lastContact = Date.now();
      }
    });
    return client;
  }

  /**
   * Opens both connections, waiting at most `connectTimeoutMs`; past that they keep trying in the
   * background. Returns why Redis refused us, when it did (bad credentials).
   */
  async #connect(): Promise<string | undefined> {
    for (const c of [this.#writer, this.#reader]) {
      c.connect().catch((e: Error) => this.#noteRefusal(e));
    }
    const end = Date.now() + this.#o.connectTimeoutMs;
    while (!this.#everReady && this.#refused === undefined && Date.now() < end) await sleep(10);
    if (this.#refused === undefined && !this.#everReady) {
      log.warning(
        "cannot reach the store {store} yet ({detail}): answering from memory, replicating once " +
          "it is reachable",
        { store: this.name, detail: this.#detail ?? "no reply" },
      );
    }
    return this.#refused;
  }

  /** Remembers an error that says Redis refused our credentials (before the first connection). */
  #noteRefusal(e: Error): void {
    const message = this.#scrub(String(e?.message ?? e));
    if (!this.#everReady && /WRONGPASS|NOAUTH|NOPERM|invalid (username|password)/i.test(message)) {
      this.#refused = message;
    }
  }

  // --- in: join and follow -----------------------------------------------------------------------

  async #follow(): Promise<void> {
    while (!this.#closed) {
      if (!this.#writer.isReady || !this.#reader.isReady) {
        await sleep(50);
        continue;
      }
      try {
        if (this.#needJoin) await this.#join();
        else if (this.#checkGap) await this.#gapCheck();
        else await this.#read();
        this.#lastContact = Date.now();
      } catch (e) {
        if (this.#closed) return;
        this.#unavailable(e);
        await sleep(100);
      }
    }
  }

  /** Reads the snapshot and the totals, then follows the stream from the snapshot's position. */
  async #join(): Promise<void> {
    const r = await this.#timed(this.#writer.sendCommand([
      "EVAL",
      JOIN_SCRIPT,
      "3",
      SNAPSHOT_KEY,
      COMPLETED_KEY,
      CHANGES_KEY,
    ])) as Reply[];
    const redisNow = Number(text(r[0]));
    this.#offsetMs = redisNow - Date.now();
    const pos = text(r[1]);
    const data = r[2] as Buffer;
    const at = Number(text(r[3]));
    const totals = r[4] as Reply[];
    const last = text(r[5]);
    const first = text(r[6]);
    const tracker = this.#tracker;
    let peers = 0;
    if (pos !== "" && data instanceof Uint8Array && data.length > 0) {
      const extra = Math.max(0, (redisNow - at) / 1000);
      const records = this.#records;
      records.reset(data);
      try {
        while (records.next()) {
          if (tracker.applyChange(records, records.age + extra)) peers++;
          const pause = this.#pacer.turn();
          if (pause !== undefined) await pause;
        }
      } catch (e) {
        // What was read before the damage is kept; the stream and the next snapshot bring the rest.
        log.error("the snapshot in {store} is malformed: {detail}", {
          store: this.name,
          detail: String(e),
        });
      }
    }
    // Completions not yet in Redis's totals are this instance's own, still on their way.
    const unsent = this.#unsentCompletions();
    for (let i = 0; i + 1 < totals.length; i += 2) {
      const hash = text(totals[i]);
      if (hash.length !== 20) continue;
      tracker.addCompleted(hash, Number(text(totals[i + 1])) + (unsent.get(hash) ?? 0), true);
    }
    const from = pos === "" ? "0-0" : pos;
    if (first !== "" && compareIds(first, from) > 0 && from !== "0-0") {
      log.warning(
        "the snapshot in {store} is older than the changes it keeps: peers changed in between " +
          "come back as they announce",
        { store: this.name },
      );
    }
    this.#lastId = from;
    this.#countedTo = last === "" ? "0-0" : last;
    this.#joinTarget = this.#countedTo;
    this.#needJoin = false;
    this.#checkGap = false;
    log.debug("joined {store}: {peers} peers from the snapshot, following from {from}", {
      store: this.name,
      peers,
      from,
    });
    this.#maybeCaughtUp();
  }

  /** After the reader reconnected: if the stream lost entries we did not read, join again. */
  async #gapCheck(): Promise<void> {
    const r = await this.#timed(
      this.#reader.sendCommand(["XRANGE", CHANGES_KEY, "-", "+", "COUNT", "1"]),
    ) as Reply[];
    this.#checkGap = false;
    const first = r.length > 0 ? text((r[0] as Reply[])[0]) : "";
    if (first !== "" && compareIds(first, this.#lastId) > 0) {
      log.info("changes were missed while away from {store}: joining again", { store: this.name });
      this.#needJoin = true;
    }
  }

  async #read(): Promise<void> {
    const reply = await this.#reader.sendCommand([
      "XREAD",
      "COUNT",
      String(READ_COUNT),
      "BLOCK",
      String(READ_BLOCK_MS),
      "STREAMS",
      CHANGES_KEY,
      this.#lastId,
    ]) as Reply[] | Record<string, Reply[]> | null;
    // RESP2 gives [[stream, entries]]; the client may map it to {stream: entries}.
    const entries = reply === null
      ? undefined
      : Array.isArray(reply)
      ? (reply[0] as Reply[] | undefined)?.[1] as Reply[] | undefined
      : Object.values(reply)[0];
    for (const entry of entries ?? []) await this.#apply(entry as Reply[]);
    this.#maybeCaughtUp();
  }

  /** Applies one stream entry `[id, [field, value, …]]` from another instance. */
  async #apply(entry: Reply[]): Promise<void> {
    const id = text(entry[0]);
    const fields = entry[1] as Reply[];
    let origin = "";
    let data: Uint8Array | undefined;
    let completions: Uint8Array | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const f = text(fields[i]);
      if (f === "o") origin = text(fields[i + 1]);
      else if (f === "d") data = fields[i + 1] as Buffer;
      else if (f === "c") completions = fields[i + 1] as Buffer;
    }
    this.#lastId = id;
    if (origin === this.instance) return;
    const age = Math.max(0, (Date.now() + this.#offsetMs - splitId(id)[0]) / 1000);
    const tracker = this.#tracker;
    const s = this.#stats;
    if (data !== undefined && data.length > 0) {
      const records = this.#records;
      records.reset(data);
      try {
        while (records.next()) {
          tracker.applyChange(records, records.age + age);
          s.changesIn++;
          const pause = this.#pacer.turn();
          if (pause !== undefined) await pause;
        }
      } catch (e) {
        log.error("a batch from instance {origin} is malformed: {detail}", {
          origin,
          detail: String(e),
        });
      }
    }
    if (completions !== undefined && compareIds(id, this.#countedTo) > 0) {
      for (const [hash, n] of decodeCompletions(completions)) tracker.addCompleted(hash, n);
    }
    s.batchesIn++;
    s.lagSeconds = age;
  }

  #maybeCaughtUp(): void {
    if (this.#stats.caughtUp || this.#needJoin) return;
    if (compareIds(this.#lastId, this.#joinTarget) >= 0) {
      this.#stats.caughtUp = true;
      this.#markCaughtUp();
    }
  }

  // --- out: batches ------------------------------------------------------------------------------

  /** Moves the current batch into the queue (or drops its records when the queue is full). */
  #seal(): void {
    const batch = this.#batch;
    if (batch.empty) return;
    const s = this.#stats;
    if (s.queuedBytes + batch.byteLength > this.#o.maxQueuedBytes) {
      s.droppedChanges += batch.dropRecords();
      // The others missed these: once Redis is back, send them every peer this instance has.
      this.#resendAll = true;
    }
    const { records, count } = batch.take();
    const completions = new Map(batch.completions);
    batch.completions.clear();
    this.#enqueue(records, count, completions);
  }

  #enqueue(records: Uint8Array, count: number, completions: Map<string, number>): void {
    this.#queue.push({ id: `${this.instance}:${++this.#seq}`, records, count, completions });
    this.#stats.queuedBytes += records.length;
  }

  /** Sends the queue in order, one batch at a time; stops at the first failure (retried later). */
  async #pump(): Promise<void> {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    const s = this.#stats;
    try {
      while (this.#writer.isReady && !this.#closed) {
        let next = this.#queue[0];
        if (next === undefined) {
          if (this.#resendAll && !this.#needJoin) {
            this.#resendAll = false;
            this.#resend = this.#everyPeer();
            s.resends++;
          }
          const chunk = this.#resend?.next();
          if (chunk === undefined || chunk.done) {
            this.#resend = undefined;
            break;
          }
          next = chunk.value;
          this.#queue.push(next);
          s.queuedBytes += next.records.length;
        }
        const id = await this.#publish(next);
        this.#queue.shift();
        s.queuedBytes -= next.records.length;
        if (id === null) s.duplicateBatches++;
        else {
          s.batchesOut++;
          s.changesOut += next.count;
        }
      }
    } catch (e) {
      this.#unavailable(e);
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * One batch. With completed events it goes through `PUBLISH_SCRIPT`, once: its id makes a second
   * delivery a no-op (resolves with null). Resolves with the entry id.
   */
  async #publish(b: Outgoing): Promise<string | null> {
    const records = Buffer.from(b.records.buffer, b.records.byteOffset, b.records.byteLength);
    if (b.completions.size === 0) {
      // Nothing to count: a plain XADD, no script. Sent twice (a retry), its records are applied
      // twice, which changes nothing: an upsert or a removal gives the same swarm again.
      const minId = String(Math.max(0, Date.now() + this.#offsetMs - this.#o.historyMs));
      const id = await this.#timed(this.#writer.sendCommand([
        "XADD",
        CHANGES_KEY,
        "MINID",
        "~",
        minId,
        "*",
        "o",
        this.instance,
        "d",
        records,
      ])) as Reply;
      return text(id);
    }
    const pairs: (string | Buffer)[] = [];
    for (const [hash, n] of b.completions) pairs.push(Buffer.from(hash, "latin1"), String(n));
    const head = [
      "3",
      BATCH_KEY_PREFIX + b.id,
      COMPLETED_KEY,
      CHANGES_KEY,
      this.instance,
      records,
      Buffer.from(encodeCompletions(b.completions)),
      String(BATCH_ID_SECONDS),
      String(this.#o.historyMs),
      ...pairs,
    ];
    let reply: Reply;
    if (this.#publishSha === "") {
      this.#publishSha = text(
        await this.#timed(this.#writer.sendCommand(["SCRIPT", "LOAD", PUBLISH_SCRIPT])) as Reply,
      );
    }
    try {
      reply = await this.#timed(
        this.#writer.sendCommand(["EVALSHA", this.#publishSha, ...head]),
      ) as Reply;
    } catch (e) {
      if (!String((e as Error)?.message).startsWith("NOSCRIPT")) throw e;
      reply = await this.#timed(
        this.#writer.sendCommand(["EVAL", PUBLISH_SCRIPT, ...head]),
      ) as Reply;
    }
    return reply === null ? null : text(reply);
  }

  /**
   * Every peer this instance holds, as batches of upserts with their ages: sent after Redis comes
   * back, so that what the others missed reaches them. A whole table is read at once (its slots
   * move when announces change it), and a batch is cut between tables.
   */
  *#everyPeer(chunkBytes = this.#o.maxBatchBytes): Generator<Outgoing> {
    const tracker = this.#tracker;
    let batch = new ChangeBatch(64 * 1024);
    for (const t of tracker.torrents()) {
      this.#writePeers(batch, t.infoHash, t.swarm.v4);
      if (t.swarm.size > t.swarm.v4.size) this.#writePeers(batch, t.infoHash, t.swarm.v6);
      if (batch.byteLength >= chunkBytes) {
        const { records, count } = batch.take();
        yield { id: `${this.instance}:${++this.#seq}`, records, count, completions: new Map() };
        batch = new ChangeBatch(64 * 1024);
      }
    }
    if (batch.count > 0) {
      const { records, count } = batch.take();
      yield { id: `${this.instance}:${++this.#seq}`, records, count, completions: new Map() };
    }
  }

  #writePeers(batch: ChangeBatch, infoHash: string, table: PeerTable): void {
    const now = this.#tracker.now();
    for (let s = table.oldest; s >= 0; s = table.next(s)) {
      batch.upsert(infoHash, table, s, now - table.lastSeen(s));
    }
  }

  /**
   * Writes a snapshot of every peer held, unless another instance wrote one in the last half
   * interval. Runs on a timer; resolves with whether it wrote one. Never rejects.
   */
  async writeSnapshot(): Promise<boolean> {
    if (this.#snapshotting || !this.#stats.caughtUp || !this.#writer.isReady) return false;
    this.#snapshotting = true;
    try {
      // Another instance may have written one lately: ask before serializing every peer.
      const minAge = Math.round(this.#o.snapshotEveryMs / 2);
      const [last, time] = await Promise.all([
        this.#timed(this.#writer.sendCommand(["HGET", SNAPSHOT_KEY, "at"])) as Promise<Reply>,
        this.#timed(this.#writer.sendCommand(["TIME"])) as Promise<Reply[]>,
      ]);
      const now = Number(text(time[0])) * 1000 + Math.floor(Number(text(time[1])) / 1000);
      if (now - Number(text(last) || "0") < minAge) return false;
      const pos = this.#lastId;
      const parts: Uint8Array[] = [];
      let size = 0;
      for (const b of this.#everyPeer(SNAPSHOT_CHUNK)) {
        parts.push(b.records);
        size += b.records.length;
        await sleep(PAUSE_MS);
      }
      const data = Buffer.alloc(size);
      let at = 0;
      for (const p of parts) {
        data.set(p, at);
        at += p.length;
      }
      const stored = await this.#timed(this.#writer.sendCommand([
        "EVAL",
        SNAPSHOT_SCRIPT,
        "1",
        SNAPSHOT_KEY,
        pos,
        data,
        String(minAge),
      ])) as Reply;
      if (stored !== 1) return false;
      this.#stats.snapshots++;
      return true;
    } catch (e) {
      this.#unavailable(e);
      return false;
    } finally {
      this.#snapshotting = false;
    }
  }

  /** Completed events counted here that Redis's totals do not have yet. */
  #unsentCompletions(): Map<string, number> {
    const out = new Map(this.#batch.completions);
    for (const b of this.#queue) {
      for (const [hash, n] of b.completions) out.set(hash, (out.get(hash) ?? 0) + n);
    }
    return out;
  }

  #timed<T>(call: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, no) =>
      timer = setTimeout(
        () => no(new Error(`no reply in ${this.#o.timeoutMs} ms`)),
        this.#o.timeoutMs,
      )
    );
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  /** Logs (at most every ten seconds) that Redis could not be used just now. */
  #unavailable(e: unknown): void {
    const now = performance.now();
    if (now - this.#lastLog < LOG_EVERY_MS) return;
    this.#lastLog = now;
    const detail = this.#scrub(String((e as Error)?.message ?? e));
    log.warning("store {store} unavailable: {detail}; answering from memory", {
      store: this.name,
      detail,
    });
  }

  /** A message with the password taken out, should a library ever echo it. */
  #scrub(message: string): string {
    return this.#secret === "" ? message : message.replaceAll(this.#secret, "***");
  }
}
