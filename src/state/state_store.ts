/**
 * Keeps the tracker's history in a state file across restarts: loads it at start, saves it every
 * `--state-interval` seconds and at shutdown.
 *
 * - **Atomic writes**: a temporary file beside the state file is written, flushed to disk and
 *   renamed over it, so a crash leaves either the old file or the new one, never half of one.
 * - **Bad files are set aside, never fatal, never overwritten**: a file that is foreign, from a
 *   newer Hefur or damaged is renamed to `PATH.bad-<timestamp>` and reported; if it cannot be
 *   renamed, saving is turned off rather than writing over it.
 * - **Peers** (with `--state-peers`) are saved with their age, and restored with a last-seen time
 *   that counts the downtime, so they expire as if there had been no restart.
 * - **WebSocket swarms** keep only their completed counts (those above 0, and those waiting for
 *   their torrent to be tracked again); their peers are browsers, which reconnect and announce
 *   again on their own.
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import { isIpv6 } from "../protocol/ip.ts";
import { createNewFile, readFileSafelySync, writablePathSync } from "../sandbox/safe_files.ts";
import type { Peer } from "../tracker/swarm.ts";
import type { Torrent, TorrentHistory, Tracker } from "../tracker/tracker.ts";
import type { WsTracker } from "../tracker/ws_tracker.ts";
import { VERSION } from "../version.ts";
import {
  decodeState,
  type SavedPeer,
  type SavedTorrent,
  type SavedWsSwarm,
  STATE_MAX_BYTES,
  STATE_MAX_PEERS_PER_TORRENT,
  StateFileError,
  StateWriter,
} from "./state_format.ts";
import { concatBytes } from "../protocol/binary.ts";

/** Torrents written between two yields to the event loop while saving. */
const SAVE_BATCH = 500;

const log = getLogger("hefur");

/** Where and how the state is kept. */
export interface StateOptions {
  /** The state file. */
  path: string;
  /** Seconds between saves; 0 saves only at shutdown. */
  interval: number;
  /** Save and restore live peers too. */
  peers: boolean;
}

/** What loading found, for the log and for tests. */
export interface LoadReport {
  /** "missing" when there was no file yet; "set-aside" when a bad file was moved away. */
  outcome: "loaded" | "missing" | "set-aside" | "unreadable";
  torrents: number;
  /** Of `torrents`, those applied at once (the rest wait for the whitelist). */
  applied: number;
  peers: number;
  /** WebSocket swarms read from the file. */
  wsSwarms: number;
  /** Of `wsSwarms`, those given back (the rest were over the torrent bound). */
  wsApplied: number;
  /** Where a bad file went. */
  setAsideTo?: string;
}

/** Saves so far, for metrics. */
export interface StateCounters {
  saves: number;
  saveFailures: number;
  /** Ms since the epoch of the last successful save, 0 before the first. */
  lastSave: number;
  /** Seconds the last save took. */
  lastDuration: number;
  /** Bytes of the last file written. */
  lastBytes: number;
}

/** A live peer as saved, its last announce turned into an age. */
function savedPeer(p: Peer, now: number): SavedPeer {
  return {
    ip: p.ip,
    port: p.port,
    peerId: p.peerId,
    left: p.left,
    uploaded: p.uploaded,
    downloaded: p.downloaded,
    age: Math.max(0, now - p.lastSeen),
  };
}

/** A name for a bad file that is not taken yet: `PATH.bad-20250102T030405Z[-N]`. */
function setAsideName(path: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  for (let n = 0;; n++) {
    const name = `${path}.bad-${stamp}${n === 0 ? "" : `-${n}`}`;
    try {
      Deno.lstatSync(name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return name;
      throw e;
    }
  }
}

/** The tracker's history in a state file. */
export class StateStore {
  readonly options: StateOptions;
  readonly counters: StateCounters = {
    saves: 0,
    saveFailures: 0,
    lastSave: 0,
    lastDuration: 0,
    lastBytes: 0,
  };
  readonly #tracker: Tracker;
  /** The WebSocket swarms whose completed counts are kept too, when there are any. */
  readonly #wsTracker: WsTracker<unknown> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The save in progress: saves never overlap. */
  #saving: Promise<boolean> | undefined;
  /** False when a bad file could not be set aside: it must not be overwritten. */
  #writable = true;
  /** What {@link load} found. */
  lastLoad: LoadReport | undefined;

  constructor(tracker: Tracker, options: StateOptions, wsTracker?: WsTracker<unknown>) {
    this.#tracker = tracker;
    this.options = options;
    this.#wsTracker = wsTracker;
  }

  /** Whether saves go to disk (false after a bad file could not be moved away). */
  get writable(): boolean {
    return this.#writable;
  }

  /**
   * Reads the state file into the tracker. Synchronous: it runs once, before any listener. A
   * missing file is a first start; a bad one is set aside and reported; nothing here throws.
   */
  load(): LoadReport {
    this.lastLoad = this.#load();
    return this.lastLoad;
  }

  #load(): LoadReport {
    const path = this.options.path;
    const report: LoadReport = {
      outcome: "loaded",
      torrents: 0,
      applied: 0,
      peers: 0,
      wsSwarms: 0,
      wsApplied: 0,
    };
    let bytes: Uint8Array;
    try {
      // A state file is written as well as read: a link there (or into a denied path) is refused.
      const real = writablePathSync(path);
      const size = Deno.statSync(real).size;
      if (size > STATE_MAX_BYTES) throw new StateFileError("foreign", `${size} bytes`);
      bytes = readFileSafelySync(real, STATE_MAX_BYTES);
      const contents = decodeState(bytes);
      const downtime = Math.max(0, Math.floor((Date.now() - contents.savedAt) / 1000));
      const now = this.#tracker.now();
      for (const saved of contents.torrents) {
        const history = this.#history(saved, now - downtime);
        report.torrents++;
        report.peers += history.peers.length;
        if (this.#tracker.restore(history)) report.applied++;
      }
      for (const saved of contents.wsSwarms) {
        report.wsSwarms++;
        if (this.#wsTracker?.restore(saved.infoHash, saved.completed)) report.wsApplied++;
      }
      log.info(
        "state: loaded {torrents} torrents, {peers} peers and {wsApplied} of {wsSwarms} WebSocket swarms from {path}, saved {downtime} s ago by Hefur {hefur}",
        { ...report, path, downtime, hefur: contents.hefur },
      );
      return report;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        log.info("state: no state file at {path} yet; starting afresh", { path });
        return { ...report, outcome: "missing" };
      }
      if (!(e instanceof StateFileError)) {
        // Unreadable (permissions, a directory): leave it alone and do not write over it.
        this.#writable = false;
        log.error("state: cannot read {path}: {error}; state will not be saved", {
          path,
          error: (e as Error).message,
        });
        return { ...report, outcome: "unreadable" };
      }
      return { ...report, ...this.#setAside(e) };
    }
  }

  /** Starts the periodic saves. */
  start(): void {
    if (this.options.interval > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => this.save(), this.options.interval * 1000);
    }
  }

  /**
   * Writes the state file now (after any save in progress). Resolves true on success; a failure
   * is logged and counted, never thrown, and the previous file stays as it was.
   */
  save(): Promise<boolean> {
    const previous = this.#saving ?? Promise.resolve(true);
    const next = previous.then(() => this.#write());
    this.#saving = next;
    next.finally(() => {
      if (this.#saving === next) this.#saving = undefined;
    });
    return next;
  }

  /** Stops the timer and saves one last time, unless `save` is false (the file cannot be written). */
  async close(save = true): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (save) await this.save();
  }

  /** Turns a saved torrent into tracker history; `base` is "now" on the clock of the save. */
  #history(saved: SavedTorrent, base: number): TorrentHistory {
    return {
      infoHash: saved.infoHash,
      completed: saved.completed,
      announces: saved.announces,
      firstSeen: saved.firstSeen,
      peers: this.options.peers
        ? saved.peers.map((p) => ({
          ip: p.ip,
          port: p.port,
          v6: isIpv6(p.ip),
          peerId: p.peerId,
          left: p.left,
          uploaded: p.uploaded,
          downloaded: p.downloaded,
          lastSeen: base - p.age,
        }))
        : [],
    };
  }

  #setAside(e: StateFileError): Pick<LoadReport, "outcome" | "setAsideTo"> {
    const path = this.options.path;
    let to: string;
    try {
      to = setAsideName(path, new Date());
      Deno.renameSync(writablePathSync(path), writablePathSync(to));
    } catch (err) {
      this.#writable = false;
      log.error(
        "state: {path} is a {problem} file ({detail}) and cannot be moved away ({error}); it is left untouched and state will not be saved",
        { path, problem: e.problem, detail: e.detail, error: (err as Error).message },
      );
      return { outcome: "unreadable" };
    }
    log.error(
      "state: {path} is a {problem} file ({detail}); set aside as {to}, starting afresh",
      { path, problem: e.problem, detail: e.detail, to },
    );
    return { outcome: "set-aside", setAsideTo: to };
  }

  /** What to save: tracked torrents with a history worth keeping, and pending history. */
  *#histories(): Generator<SavedTorrent> {
    const tracker = this.#tracker;
    for (const t of tracker.torrents()) {
      const now = tracker.now();
      const peers = this.options.peers && t.swarm.size > 0 ? this.#peersOf(t, now) : [];
      // An open-mode torrent with no completions and no peers would be swept anyway.
      if (t.swarm.downloaded === 0 && t.info === undefined && peers.length === 0) continue;
      yield {
        infoHash: t.infoHash,
        completed: t.swarm.downloaded,
        announces: t.announces,
        firstSeen: t.firstSeen,
        peers,
      };
    }
    for (const h of tracker.pending()) {
      const now = tracker.now();
      yield {
        infoHash: h.infoHash,
        completed: h.completed,
        announces: h.announces,
        firstSeen: h.firstSeen,
        // Waiting peers are saved again only while they are still alive.
        peers: this.options.peers ? this.#alive(h.peers, now) : [],
      };
    }
  }

  /** The most recent peers of a torrent, oldest first. */
  #peersOf(t: Torrent, now: number): SavedPeer[] {
    const all = [...t.swarm.peers()].sort((a, b) => a.lastSeen - b.lastSeen);
    return all.slice(-STATE_MAX_PEERS_PER_TORRENT).map((p) => savedPeer(p, now));
  }

  /**
   * The WebSocket swarms worth saving: those with completions (peers are not kept), and the
   * counts waiting for their torrent to be tracked again.
   */
  *#wsSwarms(): Generator<SavedWsSwarm> {
    if (this.#wsTracker === undefined) return;
    for (const [infoHash, swarm] of this.#wsTracker.swarms()) {
      if (swarm.downloaded > 0) yield { infoHash, completed: swarm.downloaded };
    }
    for (const [infoHash, completed] of this.#wsTracker.pending()) yield { infoHash, completed };
  }

  #alive(peers: Peer[], now: number): SavedPeer[] {
    const timeout = this.#tracker.options.peerTimeout;
    return peers.filter((p) => p.lastSeen + timeout > now).slice(-STATE_MAX_PEERS_PER_TORRENT)
      .map((p) => savedPeer(p, now));
  }

  async #write(): Promise<boolean> {
    const path = this.options.path;
    if (!this.#writable) return false;
    const t0 = performance.now();
    let tmp = "";
    let size = 0;
    try {
      // Written beside the real file, created new (never through a link), renamed over it (a
      // rename replaces a link, never follows it).
      const real = writablePathSync(path);
      tmp = `${real}.tmp-${Deno.pid}`;
      const file = await createNewFile(tmp, 0o640);
      try {
        const write = async (parts: Uint8Array[]) => {
          const bytes = concatBytes(parts);
          size += bytes.length;
          let at = 0;
          while (at < bytes.length) at += await file.write(bytes.subarray(at));
        };
        // In batches: each write lets the listeners run, so a large state never stalls them long.
        const writer = new StateWriter();
        let batch = [writer.header(Date.now(), VERSION)];
        for (const t of this.#histories()) {
          batch.push(writer.torrent(t));
          if (batch.length >= SAVE_BATCH) {
            await write(batch);
            batch = [];
          }
        }
        for (const s of this.#wsSwarms()) {
          batch.push(writer.wsSwarm(s));
          if (batch.length >= SAVE_BATCH) {
            await write(batch);
            batch = [];
          }
        }
        batch.push(writer.end());
        await write(batch);
        await file.sync();
      } finally {
        file.close();
      }
      await Deno.rename(tmp, real);
      await syncDirectory(real);
      this.counters.saves++;
      this.counters.lastSave = Date.now();
      this.counters.lastBytes = size;
      this.counters.lastDuration = (performance.now() - t0) / 1000;
      log.debug("state: saved {bytes} bytes to {path}", { bytes: size, path });
      return true;
    } catch (e) {
      this.counters.saveFailures++;
      log.error("state: cannot save to {path}: {error}", { path, error: (e as Error).message });
      if (tmp !== "") await Deno.remove(tmp).catch(() => {});
      return false;
    }
  }
}

/** Flushes the directory entry of a rename, where the system allows it (Linux does). */
async function syncDirectory(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  try {
    const d = await Deno.open(dir, { read: true });
    try {
      await d.sync();
    } finally {
      d.close();
    }
  } catch {
    // Not every system can open or sync a directory; the rename itself is still atomic.
  }
}
