/**
 * The swarms in Redis (or Valkey), shared by several Hefur instances: `--store redis://…`.
 *
 * Every announce is one `EVALSHA` of the script in `redis_scripts.ts`: one round trip, atomic, so
 * seeders, leechers and completed counts stay exact whichever instance each peer talks to, and
 * the completed counts outlive every instance. What stays local is what each instance knows by
 * itself: the whitelist (each instance walks its own torrent directory), the metadata, the
 * WebSocket swarms, the announce/scrape counters since start. The local {@link Tracker} keeps
 * those; this store answers for the swarms.
 *
 * The client is `@redis/client` (node-redis), chosen over `ioredis` and `iovalkey`: it is the
 * client Redis maintains, has no dependencies at all, runs unchanged under Deno, and has what a
 * tracker needs built in: a switch that fails commands at once while disconnected (instead of
 * queueing them), a reconnect strategy, binary replies, a bound on queued commands. In a quick
 * EVALSHA test under Deno it was as fast as `ioredis` or faster; `iovalkey` is a young fork of
 * `ioredis` with the same interface.
 *
 * Faults: a store unreachable at start is a {@link StoreConnectError}; lost later, requests get
 * {@link FAILURE.unavailable} (never an exception), the client reconnects with capped, jittered
 * back-off, and {@link RedisStore.status} says so for `/stat`. Only the redacted URL is ever
 * printed.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "@redis/client";
import { getLogger } from "../log/mod.ts";
import { binaryToHex, hexToBinary } from "../protocol/binary.ts";
import { formatIp, writeIp } from "../protocol/ip.ts";
import type { AnnounceRequest, AnnounceResult, SwarmCounts } from "../protocol/types.ts";
import {
  ANNOUNCE_SCRIPT,
  COUNTS_SCRIPT,
  EXPIRY_KEY,
  KEY_PREFIX,
  PEERS_SCRIPT,
  SWEEP_SCRIPT,
  TORRENTS_KEY,
} from "./redis_scripts.ts";
import {
  type StoreStatus,
  StoreUnavailableError,
  type SwarmView,
  type TorrentListing,
  type TorrentView,
  type TrackerStore,
} from "./store.ts";
import type { Peer } from "./swarm.ts";
import {
  clampNumwant,
  earlyFailure,
  FAILURE,
  type Tracker,
  type TrackerCounters,
} from "./tracker.ts";

const log = getLogger("store");

/** Settings of the Redis store; the defaults suit a store on the same network. */
export interface RedisStoreOptions {
  /** Milliseconds a request may wait for Redis before its client is told to retry later. */
  timeoutMs: number;
  /** Milliseconds to establish a connection. */
  connectTimeoutMs: number;
  /** Longest wait between two reconnection attempts, in milliseconds. */
  maxReconnectDelayMs: number;
  /**
   * Pages read every torrent's counters in one pipelined round trip, then reuse them for at
   * least this many milliseconds (longer when the read itself was slow: see
   * {@link RedisStore.listing}).
   */
  listingMaxAgeMs: number;
  /** Most commands waiting for Redis; past it requests fail at once rather than pile up. */
  maxQueuedCommands: number;
}

/** The defaults of `hefur serve`. */
export const DEFAULT_REDIS_STORE_OPTIONS: RedisStoreOptions = {
  timeoutMs: 2000,
  connectTimeoutMs: 5000,
  maxReconnectDelayMs: 5000,
  listingMaxAgeMs: 2000,
  maxQueuedCommands: 20_000,
};

/** The store could not be reached at start-up. Names the store by its redacted URL only. */
export class StoreConnectError extends Error {
  override name = "StoreConnectError";
  /** The store's redacted URL. */
  readonly store: string;

  constructor(store: string, reason: string) {
    super(`cannot reach the store ${store}: ${reason}`);
    this.store = store;
  }
}

/** Counters hashes read per script call when pages read every torrent. */
const COUNTS_BATCH = 1000;
/** Swarms expired per sweep script call, and most calls per sweep. */
const SWEEP_BATCH = 500;
const SWEEP_MAX_CALLS = 200;
/** At most one "store unavailable" line per this many milliseconds. */
const LOG_EVERY_MS = 10_000;

type Reply = Buffer | number | null | Reply[];

interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: "" };
}

/** The record a peer is stored as: state, peer id, then its counters as text (for `/peers`). */
function peerRecord(req: AnnounceRequest): Buffer {
  const state = req.left === 0 ? "s" : "l";
  return Buffer.from(
    `${state}${req.peerId}${req.left} ${req.uploaded} ${req.downloaded}`,
    "latin1",
  );
}

/** The shared Redis store. Create it with {@link RedisStore.connect}. */
export class RedisStore implements TrackerStore {
  /**
   * This instance's counts since start (the swarm counters are in Redis): the local tracker's
   * own object, so everything that reads the tracker's counters (status, metrics, the JSON API)
   * sees these.
   */
  readonly counters: TrackerCounters;
  /** The redacted URL. */
  readonly name: string;
  readonly #registry: Tracker;
  readonly #o: RedisStoreOptions;
  readonly #client;
  /** The password as given, only to scrub it from any message that might echo it. */
  readonly #secret: string;
  readonly #scripts = {
    announce: script(ANNOUNCE_SCRIPT),
    counts: script(COUNTS_SCRIPT),
    peers: script(PEERS_SCRIPT),
    sweep: script(SWEEP_SCRIPT),
  };
  readonly #addr = new Uint8Array(18);
  #state: StoreStatus["state"] = "connecting";
  #detail: string | undefined;
  #everReady = false;
  #closed = false;
  #lastLog = -Infinity;
  #listing: { at: number; value: TorrentListing; cost: number } | undefined;
  #listingInFlight: Promise<TorrentListing> | undefined;
  #sweeping = false;

  private constructor(
    url: string,
    name: string,
    registry: Tracker,
    options: RedisStoreOptions,
  ) {
    this.name = name;
    this.#registry = registry;
    this.counters = registry.counters;
    this.#o = options;
    let secret = "";
    try {
      secret = decodeURIComponent(new URL(url).password);
    } catch { /* no password to scrub */ }
    this.#secret = secret;
    this.#client = createClient({
      url,
      // Fail at once while disconnected: a client is better told "retry later" than kept
      // waiting behind a queue that may never drain.
      disableOfflineQueue: true,
      commandsQueueMaxLength: options.maxQueuedCommands,
      socket: {
        connectTimeout: options.connectTimeoutMs,
        reconnectStrategy: (retries: number, cause: Error) => {
          // Before the first connection, one failure is the answer: start-up reports it.
          if (!this.#everReady || this.#closed) {
            return new StoreConnectError(this.name, this.#scrub(cause?.message ?? "no reply"));
          }
          const base = Math.min(100 * 2 ** Math.min(retries, 16), options.maxReconnectDelayMs);
          // Jitter, so that instances that lost the store together do not return in lockstep.
          return Math.round(base * (0.8 + Math.random() * 0.4));
        },
      },
    }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    this.#client.on("error", (e: Error) => {
      const detail = this.#scrub(e.message);
      if (this.#state === "connected") {
        log.warning("lost the store {store}: {detail}; reconnecting", { store: name, detail });
      } else {
        log.debug("store {store}: {detail}", { store: name, detail });
      }
      this.#detail = detail;
    });
    this.#client.on("reconnecting", () => {
      if (this.#everReady) this.#state = "reconnecting";
    });
    this.#client.on("ready", () => {
      if (this.#everReady) log.info("reconnected to the store {store}", { store: name });
      this.#everReady = true;
      this.#state = "connected";
      this.#detail = undefined;
    });
  }

  /**
   * Connects to the store at `url` (its redacted form is `name`); the local `registry` tells which
   * torrents exist in whitelist mode and gives the settings. Throws {@link StoreConnectError} when
   * the store cannot be reached or refuses the credentials.
   */
  static async connect(
    url: string,
    name: string,
    registry: Tracker,
    options: Partial<RedisStoreOptions> = {},
  ): Promise<RedisStore> {
    const store = new RedisStore(url, name, registry, {
      ...DEFAULT_REDIS_STORE_OPTIONS,
      ...options,
    });
    try {
      await store.#client.connect();
    } catch (e) {
      store.#closed = true;
      store.#client.destroy();
      if (e instanceof StoreConnectError) throw e;
      // The reconnect strategy's answer comes back wrapped.
      const original = (e as { originalError?: unknown }).originalError;
      if (original instanceof StoreConnectError) throw original;
      throw new StoreConnectError(name, store.#scrub((e as Error).message));
    }
    log.info("swarms are in the store {store}", { store: name });
    return store;
  }

  /** The settings of the core (those of the local tracker). */
  get options(): Tracker["options"] {
    return this.#registry.options;
  }

  /** Connected, or reconnecting (with why). */
  status(): StoreStatus {
    return { name: this.name, state: this.#state, detail: this.#detail };
  }

  /** One announce: one script call. Never rejects; a lost store gives a failure reason. */
  announce(req: AnnounceRequest, withPeerIds = false): Promise<AnnounceResult> {
    this.counters.announces++;
    const registry = this.#registry;
    const o = registry.options;
    if (!o.open && registry.get(req.infoHash) === undefined) {
      this.counters.failures++;
      this.counters.notFound++;
      return Promise.resolve({ failure: FAILURE.notFound });
    }
    // Everything is read from `req` now: listeners reuse their request object.
    const base = KEY_PREFIX + binaryToHex(req.infoHash) + ":";
    const len = writeIp(req.ip, this.#addr, 0);
    this.#addr[len] = req.port >> 8;
    this.#addr[len + 1] = req.port & 0xff;
    const addr = Buffer.from(this.#addr.subarray(0, len + 2));
    const numwant = clampNumwant(req.numwant, o.minNumwant, o.maxNumwant);
    const call = this.#run(
      this.#scripts.announce,
      [base + "p", base + "4", base + "6", base + "c", TORRENTS_KEY, EXPIRY_KEY],
      [
        base.slice(KEY_PREFIX.length, -1),
        addr,
        peerRecord(req),
        String(req.event),
        String(numwant),
        String(req.want),
        String(o.peerTimeout),
        String(o.maxPeers),
        o.open ? "1" : "0",
        String(o.maxTorrents),
        withPeerIds ? "1" : "0",
        String(Math.random()),
        String(o.earlyAnnounces === "off" ? 0 : o.minAnnounceInterval),
      ],
    );
    return call.then((r) => {
      const a = r as Reply[];
      if (a[0] === -1) {
        this.counters.failures++;
        this.counters.full++;
        return { failure: FAILURE.full };
      }
      if (a[0] === 2) {
        this.counters.early++;
        if (o.earlyAnnounces === "refuse") {
          this.counters.failures++;
          return { failure: earlyFailure(o.minAnnounceInterval) };
        }
      }
      const ids: string[] = [];
      if (withPeerIds) {
        const raw = (a[6] as Buffer).toString("latin1");
        for (let i = 0; i + 20 <= raw.length; i += 20) ids.push(raw.slice(i, i + 20));
      }
      return {
        interval: o.announceInterval,
        minInterval: o.minAnnounceInterval,
        complete: a[1] as number,
        incomplete: a[2] as number,
        downloaded: a[3] as number,
        peers4: a[4] as Buffer,
        peers6: a[5] as Buffer,
        peerIds: ids,
      };
    }, (e) => this.#unavailable(e));
  }

  /** Counters of the requested torrents: one script call for all of them. */
  scrape(infoHashes: readonly string[]): Promise<(SwarmCounts | undefined)[]> {
    this.counters.scrapes++;
    return this.#counts(infoHashes).catch((e) => {
      this.#unavailable(e);
      throw new StoreUnavailableError(this.name, FAILURE.unavailable);
    });
  }

  /**
   * Every tracked torrent with its counters, for pages and full scrapes: every torrent's counters
   * in one pipelined round trip, then kept for `listingMaxAgeMs` or ten times what the read took,
   * whichever is longer, so that pages cost Redis a bounded share of its time however often they
   * are asked for. Concurrent callers share one read. While the store is away, the last listing
   * is served (its age says how old); with none, this rejects with
   * {@link StoreUnavailableError}.
   */
  listing(): Promise<TorrentListing> {
    const now = performance.now();
    const cached = this.#listing;
    if (cached !== undefined && now - cached.at < Math.max(this.#o.listingMaxAgeMs, cached.cost)) {
      return Promise.resolve({ ...cached.value, ageMs: now - cached.at });
    }
    this.#listingInFlight ??= this.#readListing().then((value) => {
      const at = performance.now();
      this.#listing = { at, value, cost: 10 * (at - now) };
      return value;
    }, (e) => {
      if (this.#listing === undefined) {
        this.#unavailable(e);
        throw new StoreUnavailableError(this.name, FAILURE.unavailable);
      }
      const old = this.#listing;
      return { ...old.value, ageMs: performance.now() - old.at };
    }).finally(() => this.#listingInFlight = undefined);
    return this.#listingInFlight;
  }

  /**
   * The last listing read, at once, for readers that cannot wait (metrics, `ctl status`); a stale
   * one is refreshed in the background for the next reader. Undefined before the first read.
   */
  snapshot(): TorrentListing | undefined {
    const cached = this.#listing;
    const now = performance.now();
    if (cached === undefined || now - cached.at >= Math.max(this.#o.listingMaxAgeMs, cached.cost)) {
      this.listing().catch(() => {});
    }
    return cached === undefined ? undefined : { ...cached.value, ageMs: now - cached.at };
  }

  /** The newest `limit` peers of each family of one torrent (one script call). */
  async peersOf(infoHash: string, limit: number): Promise<SwarmView | undefined> {
    const local = this.#registry.get(infoHash);
    const open = this.#registry.options.open;
    if (!open && local === undefined) return undefined;
    const hex = binaryToHex(infoHash);
    const base = KEY_PREFIX + hex + ":";
    let r: Reply[];
    try {
      r = await this.#run(
        this.#scripts.peers,
        [base + "p", base + "4", base + "6", base + "c", TORRENTS_KEY],
        [open ? "1" : "0", hex, String(limit)],
      ) as Reply[];
    } catch (e) {
      this.#unavailable(e);
      throw new StoreUnavailableError(this.name, FAILURE.unavailable);
    }
    if (r[0] !== 1) return undefined;
    const members = r[6] as Reply[];
    const records = r[7] as Reply[];
    const peers: Peer[] = [];
    for (let k = 0; k < records.length; k++) {
      const member = members[2 * k] as Buffer;
      const compact = member.subarray(0, member.length - 20);
      const rec = records[k] as Buffer;
      if (rec.length < 21) continue;
      const [left, uploaded, downloaded] = rec.toString("latin1", 21).split(" ").map(Number);
      const addrLen = compact.length === 6 ? 4 : 16;
      peers.push({
        ip: formatIp(compact, 0, addrLen),
        port: compact[addrLen] * 256 + compact[addrLen + 1],
        v6: addrLen === 16,
        peerId: rec.toString("latin1", 1, 21),
        left,
        uploaded,
        downloaded,
        lastSeen: Number((members[2 * k + 1] as Buffer).toString()),
      });
    }
    // Each family came newest first; merge them and keep the newest `limit`.
    peers.sort((a, b) => b.lastSeen - a.lastSeen);
    peers.length = Math.min(peers.length, limit);
    const torrent: TorrentView = {
      infoHash,
      info: local?.info,
      swarm: { complete: r[2] as number, incomplete: r[3] as number, downloaded: r[4] as number },
    };
    return { torrent, total: r[5] as number, peers, now: r[1] as number };
  }

  /**
   * Expires the swarms whose oldest peer is due, a batch per script call. Meant for a timer (every
   * minute); the announce path expires the swarm it touches. Resolves with the number of swarms
   * visited; never rejects (a lost store is logged at debug level and tried again next time).
   */
  async sweep(): Promise<number> {
    if (this.#sweeping || !this.#client.isReady) return 0;
    this.#sweeping = true;
    let visited = 0;
    try {
      const o = this.#registry.options;
      for (let i = 0; i < SWEEP_MAX_CALLS; i++) {
        const n = await this.#run(this.#scripts.sweep, [TORRENTS_KEY, EXPIRY_KEY], [
          KEY_PREFIX,
          String(o.peerTimeout),
          o.open ? "1" : "0",
          String(SWEEP_BATCH),
        ]) as number;
        visited += n;
        if (n < SWEEP_BATCH) break;
      }
    } catch (e) {
      log.debug("sweep stopped: {detail}", { detail: this.#scrub((e as Error).message) });
    } finally {
      this.#sweeping = false;
    }
    return visited;
  }

  /** Closes the connection (pending requests get the failure reason). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#client.isReady) await this.#client.close();
      else this.#client.destroy();
    } catch {
      this.#client.destroy();
    }
  }

  // --- internals ---------------------------------------------------------------------------------

  async #readListing(): Promise<TorrentListing> {
    const registry = this.#registry;
    let hashes: string[];
    if (registry.options.open) {
      const members = await this.#withTimeout(
        this.#client.sendCommand(["SMEMBERS", TORRENTS_KEY]),
      ) as Buffer[];
      hashes = [];
      for (const m of members) {
        const h = hexToBinary(m.toString("latin1"));
        if (h !== undefined && h.length === 20) hashes.push(h);
      }
      hashes.sort();
    } else {
      hashes = [];
      for (const t of registry.torrents()) hashes.push(t.infoHash);
    }
    const counts = await this.#counts(hashes);
    const torrents: TorrentView[] = [];
    for (let i = 0; i < hashes.length; i++) {
      const c = counts[i];
      if (c === undefined) continue;
      torrents.push({ infoHash: hashes[i], info: registry.get(hashes[i])?.info, swarm: c });
    }
    return { size: torrents.length, torrents, ageMs: 0 };
  }

  /** Counters of many torrents: batches of script calls sent together (one round trip). */
  async #counts(infoHashes: readonly string[]): Promise<(SwarmCounts | undefined)[]> {
    const registry = this.#registry;
    const open = registry.options.open;
    const out: (SwarmCounts | undefined)[] = new Array(infoHashes.length).fill(undefined);
    // In whitelist mode only the torrents this instance tracks are asked for.
    const asked: number[] = [];
    for (let i = 0; i < infoHashes.length; i++) {
      if (open || registry.get(infoHashes[i]) !== undefined) asked.push(i);
    }
    const calls: Promise<unknown>[] = [];
    for (let from = 0; from < asked.length; from += COUNTS_BATCH) {
      const batch = asked.slice(from, from + COUNTS_BATCH);
      const keys = [TORRENTS_KEY];
      const args = [open ? "1" : "0"];
      for (const i of batch) {
        const hex = binaryToHex(infoHashes[i]);
        keys.push(KEY_PREFIX + hex + ":c");
        args.push(hex);
      }
      calls.push(this.#run(this.#scripts.counts, keys, args));
    }
    const replies = await Promise.all(calls) as number[][];
    for (let b = 0; b < replies.length; b++) {
      const r = replies[b];
      for (let k = 0; k * 4 < r.length; k++) {
        if (r[k * 4] !== 1) continue;
        out[asked[b * COUNTS_BATCH + k]] = {
          complete: r[k * 4 + 1],
          incomplete: r[k * 4 + 2],
          downloaded: r[k * 4 + 3],
        };
      }
    }
    return out;
  }

  /**
   * Runs a script by its SHA1 and, when Redis does not know it (first use, or Redis restarted),
   * by its source, which also caches it. Rejects when Redis is away or too slow.
   */
  #run(s: Script, keys: string[], args: (string | Buffer)[]): Promise<unknown> {
    if (!this.#client.isReady) {
      return Promise.reject(new StoreUnavailableError(this.name, this.#detail ?? "not connected"));
    }
    const head = [String(keys.length), ...keys, ...args];
    const byScript = () => this.#client.sendCommand(["EVAL", s.source, ...head]);
    const call = s.sha === ""
      ? this.#client.sendCommand(["SCRIPT", "LOAD", s.source]).then((sha) => {
        s.sha = String(sha);
        return this.#client.sendCommand(["EVALSHA", s.sha, ...head]);
      })
      : this.#client.sendCommand(["EVALSHA", s.sha, ...head]).catch((e: Error) => {
        if (!String(e?.message).startsWith("NOSCRIPT")) throw e;
        return byScript();
      });
    return this.#withTimeout(call);
  }

  #withTimeout<T>(call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreUnavailableError(this.name, `no reply in ${this.#o.timeoutMs} ms`)),
        this.#o.timeoutMs,
      );
      call.then((v) => {
        clearTimeout(timer);
        resolve(v);
      }, (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Counts and logs (at most every ten seconds) a request the store could not answer. */
  #unavailable(e: unknown): { failure: string } {
    this.counters.failures++;
    const now = performance.now();
    if (now - this.#lastLog >= LOG_EVERY_MS) {
      this.#lastLog = now;
      const detail = this.#scrub(String((e as Error)?.message ?? e));
      // A Redis error reply (not a lost connection) is a bug or a misconfigured server.
      const lost = e instanceof StoreUnavailableError || !this.#client.isReady;
      if (lost) log.warning("store {store} unavailable: {detail}", { store: this.name, detail });
      else log.error("store {store} refused a request: {detail}", { store: this.name, detail });
    }
    return { failure: FAILURE.unavailable };
  }

  /** A message with the password taken out, should a library ever echo it. */
  #scrub(message: string): string {
    return this.#secret === "" ? message : message.replaceAll(this.#secret, "***");
  }
}
