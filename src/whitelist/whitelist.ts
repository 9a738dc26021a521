/**
 * The whitelist: the torrents whose `.torrent` files lie under `--torrent-dir`, kept in step with
 * the directory by a full walk at start-up and every `--scan-interval` seconds, and by
 * `Deno.watchFs` in between so that a change takes effect within about a second.
 *
 * It is a source of torrents, not part of the store: it tells a {@link TorrentSink} (the tracker
 * core) which hashes to track and which to drop. Per-file state makes a rescan cost one `stat` per
 * unchanged file (the original re-reads and re-hashes every file on every scan, reference §16.3).
 *
 * Rules (reference §9, with its bugs fixed):
 * - only the hashes a file's versions really have are tracked (§0.5);
 * - a hash stays tracked while any file holds it; the swarm survives rescans, renames and
 *   replacements of a file by another copy of the same torrent;
 * - a file that stops parsing keeps its previous torrents for a short grace (it may be half
 *   rewritten), then loses them; a file that never parsed is never tracked;
 * - removal drops every hash a file held, v2 ones included (§9.4);
 * - symbolic links are followed to their real paths, once, and only when these lie inside the
 *   torrent directory (anywhere, with `followExternalLinks`) and outside the sandbox's deny lists;
 *   a link refused is treated as absent.
 *
 * `Deno.watchFs` does not report a link whose target lies outside the watched directory (nor a
 * dangling one), so every directory the walk entered is also looked at once a second, a bounded
 * number per second: a directory whose modification time changed has its links checked.
 *
 * @module
 */
import { resolve } from "node:path";
import { getLogger } from "../log/mod.ts";
import { LinkRefusedError, sandboxRefusal } from "../sandbox/safe_files.ts";
import {
  type Metainfo,
  parseMetainfo,
  TorrentFileError,
  wireHashes,
} from "../protocol/metainfo.ts";
import type { TorrentInfo } from "../tracker/tracker.ts";
import { NotRegularFileError, readTorrentFile, TorrentTooLargeError } from "./torrent_file.ts";
import { dirKey, entryPrefix, type FoundFile, type WalkResult, walkTree } from "./walk.ts";

/** Where the whitelist sends its decisions; the tracker core implements it. */
export interface TorrentSink {
  /** Track `infoHash` (20-byte binary string), or update its metadata keeping its swarm. */
  addTorrent(infoHash: string, info: TorrentInfo): unknown;
  /** Stop tracking `infoHash` and free its peers. */
  removeTorrent(infoHash: string): boolean;
}

/** How important a log line is. */
export type WhitelistLogLevel = "debug" | "info" | "warning" | "error";

/** Settings of a {@link Whitelist}; the command-line options of reference §9, in plain units. */
export interface WhitelistOptions {
  /** The torrent directory. */
  root: string;
  /** Milliseconds between the end of a full walk and the start of the next. */
  scanIntervalMs: number;
  /**
   * `--max-scan-depth`: a directory at level L (the root's entries are level 1) is entered only
   * when L ≤ this.
   */
  maxScanDepth: number;
  /** `--max-scan-inodes`: most directory entries one walk visits, and most files remembered. */
  maxScanInodes: number;
  /** `--max-torrent-size` in bytes: larger files are skipped without being read. */
  maxTorrentSize: number;
  /** Quiet time after the last file-system event before the affected paths are checked. */
  debounceMs: number;
  /** Longest wait for a check while events keep coming. */
  maxDelayMs: number;
  /** How long a file that stops parsing keeps the torrents it held (it may be half rewritten). */
  brokenGraceMs: number;
  /** Most paths waiting for a check; past it one full walk replaces them. */
  maxPendingPaths: number;
  /** Watch the tree with `Deno.watchFs` (the periodic walk alone otherwise). */
  watch: boolean;
  /**
   * `--follow-external-links`: follow symbolic links whose real path lies outside the torrent
   * directory. Links into paths the sandbox denies for reading are refused either way.
   */
  followExternalLinks: boolean;
  /** Milliseconds between two looks at directories for new links (with `watch`). */
  linkPollMs: number;
  /** Most directories looked at per look (they are taken in turns). */
  linkPollBatch: number;
  /** Where log lines go (tests collect them). */
  log: (level: WhitelistLogLevel, message: string) => void;
  /** Told of every full walk when it ends (metrics). */
  onScan?: (report: ScanReport) => void;
}

const logger = getLogger("whitelist");

/**
 * Default log: the `whitelist` origin of Hefur's logging. The message is passed as a property,
 * never as the template, so a path with braces is printed as it is (and its control characters
 * escaped).
 */
export function whitelistLog(level: WhitelistLogLevel, message: string): void {
  logger[level]("{message}", { message });
}

/** Defaults for everything but the root (the command line's defaults, reference §2.2). */
export const DEFAULT_WHITELIST_OPTIONS: Omit<WhitelistOptions, "root"> = {
  scanIntervalMs: 60_000,
  maxScanDepth: 64,
  maxScanInodes: 131072,
  maxTorrentSize: 10 * 1024 * 1024,
  debounceMs: 150,
  maxDelayMs: 1000,
  brokenGraceMs: 5000,
  maxPendingPaths: 4096,
  watch: true,
  followExternalLinks: false,
  linkPollMs: 1000,
  linkPollBatch: 256,
  log: whitelistLog,
};

/** Figures of the last full walk. */
export interface ScanReport {
  /** Directory entries visited. */
  entries: number;
  /** `.torrent` files remembered after the walk (parsed or not). */
  files: number;
  /** Hashes tracked after the walk. */
  tracked: number;
  /** Files read and parsed during the walk (new or changed ones). */
  read: number;
  /** True when `--max-scan-inodes` stopped the walk. */
  truncated: boolean;
  /** Milliseconds the walk took. */
  durationMs: number;
}

/** Why a file holds no (new) torrent. */
type FileStatus = "ok" | "broken" | "too-large" | "not-regular" | "refused" | "unreadable";

/** What reading a file found, before it is applied to the state. */
interface Load {
  signature: string;
  status: FileStatus | "gone";
  /** The hashes the file has, when it parsed. */
  torrents?: Map<string, TorrentInfo>;
  /** The log line for a file that did not parse. */
  problem: string;
}

/** What the whitelist remembers of one `.torrent` path. */
interface FileEntry {
  /** Size, times and identity at the last read; an equal signature means "unchanged". */
  signature: string;
  status: FileStatus;
  /** The hashes this file holds, with the metadata it gives them. */
  torrents: Map<string, TorrentInfo>;
  /** When it stopped parsing while holding torrents (the grace starts there). */
  brokenSince?: number;
  /** Generation of the last walk that saw it. */
  seen: number;
}

const TORRENT_NAME = /\.torrent$/i;

/** True for names the whitelist reads: `*.torrent`, any case (as the original's fnmatch). */
export function isTorrentName(name: string): boolean {
  return TORRENT_NAME.test(name);
}

/**
 * A live whitelist over one directory tree. Every change to its state runs in one queue, so a
 * full walk, a batch of watcher events and a control-socket request never interleave.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "../protocol/bencode.ts";
 * import { Tracker } from "../tracker/tracker.ts";
 * import { Whitelist } from "./whitelist.ts";
 * const dir = await Deno.makeTempDir();
 * const info = { name: "a", length: 1, "piece length": 16384, pieces: new Uint8Array(20) };
 * await Deno.writeFile(`${dir}/a.torrent`, encode({ info }));
 * const tracker = new Tracker({ open: false });
 * const whitelist = new Whitelist(tracker, { root: dir, watch: false });
 * await whitelist.start();
 * assert.equal(tracker.size, 1);
 * await whitelist.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Whitelist {
  readonly options: WhitelistOptions;
  /** The root, absolute, without a trailing slash; every remembered path starts with it. */
  readonly root: string;
  /** The root as the prefix of its entries' paths, without the separator ("" for "/"). */
  readonly #base: string;
  readonly #sink: TorrentSink;
  readonly #files = new Map<string, FileEntry>();
  /** Hash → the paths holding it, first one gives the metadata. */
  readonly #owners = new Map<string, string[]>();
  /** Directory → number of remembered files at any depth below it (root excluded). */
  readonly #dirRefs = new Map<string, number>();
  /**
   * Hashes whose last holder went away in the current batch, with their metadata: dropped at the
   * batch's end unless a file claims them again (a rename), which then keeps swarm and `addedAt`.
   */
  readonly #orphans = new Map<string, TorrentInfo>();
  readonly #abort = new AbortController();
  #generation = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #watcher?: Deno.FsWatcher;
  /** Identity of the root directory the watcher watches. */
  #watchedKey?: string;
  /** Set once a failure to watch was logged; every walk retries, quietly. */
  #watchWarned = false;
  #watching?: Promise<void>;
  #scanTimer?: ReturnType<typeof setTimeout>;
  #flushTimer?: ReturnType<typeof setTimeout>;
  #firstPendingAt = 0;
  readonly #pending = new Set<string>();
  #pendingFullScan = false;
  readonly #graceTimers = new Map<string, ReturnType<typeof setTimeout>>();
  #capWarned = false;
  /** The root's real path, as of the last full walk ("" for "/"); links are judged against it. */
  #realBase?: string;
  /**
   * Directories the walks entered → their modification time then (NaN while too recent to trust,
   * see {@link settledMtime}): where new links may appear.
   */
  readonly #dirs = new Map<string, number>();
  #pollTimer?: ReturnType<typeof setInterval>;
  #pollTurn?: Iterator<[string, number]>;
  #polling = false;
  /** Links refused between two walks → their text: logged once, looked at again only if changed. */
  readonly #refused = new Map<string, string>();
  /** Figures of the last full walk; undefined before the first. */
  lastScan?: ScanReport;

  constructor(sink: TorrentSink, options: Partial<WhitelistOptions> & { root: string }) {
    this.options = { ...DEFAULT_WHITELIST_OPTIONS, ...options };
    this.#sink = sink;
    const root = resolve(this.options.root);
    this.root = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
    this.#base = entryPrefix(this.root);
  }

  /**
   * Runs the first full walk, then starts the watcher and the periodic walk. Resolves when the
   * first walk is done, so every torrent present at start-up is tracked.
   */
  async start(): Promise<ScanReport> {
    // Watch first: what changes during the first walk is then checked right after it.
    await this.#ensureWatcher();
    const report = await this.scanNow();
    if (this.options.watch && !this.#closed) {
      this.#pollTimer = setInterval(() => this.#pollDirs(), this.options.linkPollMs);
    }
    return report;
  }

  /** Runs a full walk now (after whatever is queued) and restarts the interval from its end. */
  scanNow(): Promise<ScanReport> {
    return this.#serial(async () => {
      if (this.#scanTimer !== undefined) clearTimeout(this.#scanTimer);
      const report = await this.#fullScan();
      this.#scheduleScan();
      return report;
    });
  }

  /**
   * Checks one path now, a file or a directory under the root, and returns the hashes (20-byte
   * binary strings) tracked for that file afterwards: empty when it is gone, not a torrent, or
   * outside the root. For a directory, every file below it is checked and the result is empty.
   */
  rescanPath(path: string): Promise<string[]> {
    const abs = resolve(path);
    return this.#serial(async () => {
      if (this.#inside(abs)) await this.#checkPaths([abs], true);
      return this.hashesOf(abs);
    });
  }

  /** The hashes tracked for a file, from memory (no disk access). */
  hashesOf(path: string): string[] {
    const entry = this.#files.get(resolve(path));
    return entry === undefined ? [] : [...entry.torrents.keys()];
  }

  /** The paths holding a hash, the one that gives the metadata first. */
  pathsOf(infoHash: string): readonly string[] {
    return this.#owners.get(infoHash) ?? [];
  }

  /** Number of `.torrent` files remembered. */
  get fileCount(): number {
    return this.#files.size;
  }

  /** Number of hashes the whitelist tracks. */
  get hashCount(): number {
    return this.#owners.size;
  }

  /** Stops the watcher and every timer; resolves once the work in progress has ended. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#scanTimer !== undefined) clearTimeout(this.#scanTimer);
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    clearInterval(this.#pollTimer);
    for (const t of this.#graceTimers.values()) clearTimeout(t);
    this.#graceTimers.clear();
    this.#pending.clear();
    try {
      this.#watcher?.close();
    } catch {
      // already closed by an error of its own
    }
    await this.#watching;
    await this.#queue.catch(() => {});
  }

  // ---- the queue ----------------------------------------------------------------------------

  /** Runs `task` after every task queued before it; a failure is logged and thrown to its caller. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch((e) => this.#log("error", `internal error: ${errorText(e)}`));
    return run;
  }

  #log(level: WhitelistLogLevel, message: string): void {
    this.options.log(level, message);
  }

  // ---- full walk ----------------------------------------------------------------------------

  #scheduleScan(): void {
    if (this.#closed) return;
    this.#scanTimer = setTimeout(() => {
      this.#scanTimer = undefined;
      this.scanNow().catch(() => {});
    }, this.options.scanIntervalMs);
  }

  async #fullScan(): Promise<ScanReport> {
    const started = performance.now();
    const generation = ++this.#generation;
    this.#pendingFullScan = false;
    this.#capWarned = false;
    let read = 0;
    let walk: WalkResult | undefined;
    const dirs = new Map<string, number>();
    try {
      const real = await Deno.realPath(this.root);
      this.#realBase = entryPrefix(real);
      walk = await walkTree(this.root, {
        signal: this.#abort.signal,
        maxDepth: this.options.maxScanDepth,
        maxEntries: this.options.maxScanInodes,
        wanted: isTorrentName,
        admit: this.#admit,
        onDirectory: (path, stat) => dirs.set(path, settledMtime(stat)),
        onFiles: async (files) => {
          read += await this.#checkFiles(files, false, generation);
        },
      });
      this.#dirs.clear();
      for (const [dir, mtime] of dirs) this.#dirs.set(dir, mtime);
      this.#refused.clear();
    } catch (e) {
      if (this.#closed) return this.#report(started, 0, read, false);
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
        this.#dirs.clear();
        this.#log("error", `${this.root}: torrent directory missing or not a directory`);
      } else {
        // The root exists but cannot be read: keep everything rather than drop every swarm.
        this.#log("error", `${this.root}: cannot read the torrent directory: ${errorText(e)}`);
        return this.#report(started, 0, read, false);
      }
    }
    if (walk !== undefined) {
      this.#logWalk(this.root, walk);
    }
    const unseen: string[] = [];
    const unreadable = new Set(walk?.unreadable);
    // The root itself could not be read: nothing can be judged absent.
    const keepAll = unreadable.has(this.#base);
    for (const [path, entry] of this.#files) {
      if (entry.seen === generation) continue;
      if (keepAll || (unreadable.size > 0 && hasAncestorIn(path, this.#base, unreadable))) {
        entry.seen = generation;
      } else {
        unseen.push(path);
      }
    }
    if (walk?.truncated) {
      // The walk stopped early: what it did not see may still exist. Ask each file directly.
      for (const path of unseen) await this.#checkKnownFile(path);
    } else {
      for (const path of unseen) this.#forget(path);
    }
    this.#finishBatch();
    await this.#ensureWatcher();
    return this.#report(started, walk?.entries ?? 0, read, walk?.truncated ?? false);
  }

  #report(started: number, entries: number, read: number, truncated: boolean): ScanReport {
    const report = {
      entries,
      files: this.#files.size,
      tracked: this.#owners.size,
      read,
      truncated,
      durationMs: performance.now() - started,
    };
    this.lastScan = report;
    this.options.onScan?.(report);
    return report;
  }

  #logWalk(dir: string, walk: WalkResult): void {
    if (walk.truncated) {
      this.#log(
        "error",
        `${dir}: reached the limit of ${this.options.maxScanInodes} scanned inodes ` +
          `(--max-scan-inodes); the rest of the tree was not scanned`,
      );
    }
    if (walk.tooDeep > 0) {
      this.#log(
        "warning",
        `${dir}: ${walk.tooDeep} director${walk.tooDeep === 1 ? "y" : "ies"} deeper than ` +
          `--max-scan-depth ${this.options.maxScanDepth} not scanned`,
      );
    }
    if (walk.loops > 0) {
      this.#log("info", `${dir}: ${walk.loops} directory link(s) to already scanned directories`);
    }
    if (walk.refused > 0) {
      this.#log(
        "warning",
        `${dir}: ${walk.refused} symbolic link(s) not followed: ${walk.refusals.join("; ")}`,
      );
    }
    for (const path of walk.unreadable.slice(0, 10)) {
      this.#log(
        "warning",
        `${path}: directory cannot be read; keeping the torrents known below it`,
      );
    }
  }

  // ---- one file -----------------------------------------------------------------------------

  /** Brings a batch of files up to date: read in parallel, applied in order. Returns reads. */
  async #checkFiles(files: FoundFile[], force: boolean, generation: number): Promise<number> {
    const loads = await Promise.all(files.map((f) => this.#load(f, force)));
    let read = 0;
    for (let i = 0; i < files.length; i++) {
      const load = loads[i];
      if (load === undefined) {
        const entry = this.#files.get(files[i].path);
        if (entry !== undefined) {
          entry.seen = generation;
          this.#expireGrace(files[i].path, entry);
        }
        continue;
      }
      read++;
      this.#apply(files[i].path, load, generation);
    }
    return read;
  }

  /** Brings one `.torrent` path up to date given its `stat`. Returns true when it was read. */
  async #checkFile(
    path: string,
    real: string,
    stat: Deno.FileInfo,
    force: boolean,
    generation: number,
  ): Promise<boolean> {
    return await this.#checkFiles([{ path, real, stat, level: 0 }], force, generation) > 0;
  }

  /**
   * Reads and parses a file if it changed since it was last read (or when `force`d); undefined
   * when it is unchanged. Touches no state: {@link #apply} does, in order.
   */
  async #load(
    { path, real, stat }: FoundFile,
    force: boolean,
  ): Promise<Load | undefined> {
    const signature = signatureOf(stat);
    const known = this.#files.get(path);
    if (known !== undefined && !force && known.signature === signature) return undefined;
    try {
      if (stat.size > this.options.maxTorrentSize) {
        throw new TorrentTooLargeError(path, stat.size, this.options.maxTorrentSize);
      }
      // By its real path: a link swapped in since the walk resolved it is refused there.
      const bytes = await readTorrentFile(real, this.options.maxTorrentSize);
      const metainfo = parseMetainfo(bytes);
      const torrents = torrentsOf(
        metainfo,
        path,
        stat.mtime?.getTime() ?? Date.now(),
        bytes.length,
      );
      return { signature, status: "ok", torrents, problem: "" };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || (e as { code?: string }).code === "ENOENT") {
        return { signature, status: "gone", problem: "" };
      }
      let status: FileStatus;
      if (e instanceof TorrentTooLargeError) status = "too-large";
      else if (e instanceof NotRegularFileError) status = "not-regular";
      else if (e instanceof LinkRefusedError) status = "refused";
      else if (e instanceof TorrentFileError || e instanceof RangeError) status = "broken";
      else status = "unreadable";
      const problem = e instanceof TorrentTooLargeError || e instanceof NotRegularFileError ||
          e instanceof LinkRefusedError
        ? e.message
        : `${path}: ${status === "broken" ? "not a valid torrent" : "cannot read"}: ${
          errorText(e)
        }`;
      return { signature, status, problem };
    }
  }

  /** Records what {@link #load} found, and claims or releases hashes accordingly. */
  #apply(path: string, load: Load, generation: number): void {
    if (this.#closed) return;
    let entry = this.#files.get(path);
    if (load.status === "gone") {
      this.#forget(path);
      return;
    }
    if (entry === undefined && this.#files.size >= this.options.maxScanInodes) {
      if (!this.#capWarned) {
        this.#capWarned = true;
        this.#log(
          "error",
          `${path}: ${this.#files.size} torrent files already known, the limit of ` +
            `--max-scan-inodes; further files are ignored`,
        );
      }
      return;
    }
    const { signature, status, problem } = load;
    const changed = entry === undefined || entry.signature !== signature ||
      entry.status !== status;
    if (entry === undefined) {
      entry = { signature, status, torrents: new Map(), seen: generation };
      this.#remember(path, entry);
    }
    entry.signature = signature;
    entry.status = status;
    entry.seen = generation;

    if (load.torrents !== undefined) {
      entry.brokenSince = undefined;
      this.#clearGrace(path);
      this.#setTorrents(path, entry, load.torrents);
      return;
    }
    if (status === "broken" && entry.torrents.size > 0) {
      // Maybe half rewritten: keep what it held for a while, then check it again.
      if (entry.brokenSince === undefined) {
        entry.brokenSince = Date.now();
        this.#log("warning", `${problem}; keeping its torrents for now`);
        this.#armGrace(path, this.options.brokenGraceMs);
      } else {
        this.#expireGrace(path, entry);
      }
      return;
    }
    if (status === "unreadable") {
      // Like the original, an error other than "absent" keeps what the file held.
      if (changed) this.#log("warning", `${problem}; keeping what it held`);
      return;
    }
    if (changed) this.#log(status === "broken" ? "error" : "warning", problem);
    this.#setTorrents(path, entry, new Map());
  }

  /** Drops the torrents of a file whose grace as a broken file has run out. */
  #expireGrace(path: string, entry: FileEntry): void {
    if (entry.brokenSince === undefined) return;
    const left = entry.brokenSince + this.options.brokenGraceMs - Date.now();
    if (left > 0) {
      this.#armGrace(path, left);
      return;
    }
    entry.brokenSince = undefined;
    this.#clearGrace(path);
    this.#log("error", `${path}: still not a valid torrent; its torrents are no longer tracked`);
    this.#setTorrents(path, entry, new Map());
  }

  #armGrace(path: string, delayMs: number): void {
    if (this.#closed || this.#graceTimers.has(path)) return;
    this.#graceTimers.set(
      path,
      setTimeout(() => {
        this.#graceTimers.delete(path);
        this.#enqueue(path);
      }, delayMs),
    );
  }

  #clearGrace(path: string): void {
    const timer = this.#graceTimers.get(path);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#graceTimers.delete(path);
    }
  }

  /** Re-checks a remembered file by path: gone, changed into something else, or changed. */
  async #checkKnownFile(path: string): Promise<void> {
    let found: Resolved;
    try {
      found = await this.#resolve(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) this.#forget(path);
      else this.#files.get(path)!.seen = this.#generation; // cannot tell: keep
      return;
    }
    if (found.stat === undefined || !found.stat.isFile) this.#forget(path);
    else await this.#checkFile(path, found.real, found.stat, false, this.#generation);
  }

  /**
   * Where a path under the root really is, and its `stat`, unless a link on the way leads where
   * {@link #admit} refuses (then `refusal` says why, logged once per link).
   *
   * @throws what `realPath` or `stat` throw (`NotFound` when it is gone or dangling).
   */
  async #resolve(path: string): Promise<Resolved> {
    const real = await Deno.realPath(path);
    const refusal = this.#admit(real, path);
    if (refusal === undefined) {
      this.#refused.delete(path);
      return { real, stat: await Deno.stat(real) };
    }
    let text = real;
    try {
      text = await Deno.readLink(path);
    } catch { /* not itself a link: a directory above it is */ }
    if (this.#refused.get(path) !== text && this.#refused.size < this.options.maxPendingPaths) {
      this.#refused.set(path, text);
      this.#log("warning", `symbolic link not followed: ${refusal}`);
    }
    return { real, refusal };
  }

  /**
   * Whether the whitelist may read what lies at `real` (reached by `path`): undefined when it may,
   * else why not. A real path the sandbox denies for reading is always refused; one outside the
   * torrent directory is refused unless `followExternalLinks`.
   */
  readonly #admit = (real: string, path: string): string | undefined => {
    const denied = sandboxRefusal(path, real, "read");
    if (denied !== undefined) return denied;
    const base = this.#realBase;
    const inside = base === undefined || base === "" || real === base ||
      real.startsWith(base + "/");
    if (!inside && !this.options.followExternalLinks) {
      return `${path} leads to ${real}, outside the torrent directory (see --follow-external-links)`;
    }
    return undefined;
  };

  #remember(path: string, entry: FileEntry): void {
    this.#files.set(path, entry);
    for (let dir = parentOf(path); dir.length > this.#base.length; dir = parentOf(dir)) {
      this.#dirRefs.set(dir, (this.#dirRefs.get(dir) ?? 0) + 1);
    }
  }

  /** Forgets a file: every hash it held loses a holder. */
  #forget(path: string): void {
    const entry = this.#files.get(path);
    if (entry === undefined) return;
    this.#clearGrace(path);
    this.#setTorrents(path, entry, new Map());
    this.#files.delete(path);
    for (let dir = parentOf(path); dir.length > this.#base.length; dir = parentOf(dir)) {
      const n = this.#dirRefs.get(dir)! - 1;
      if (n === 0) this.#dirRefs.delete(dir);
      else this.#dirRefs.set(dir, n);
    }
  }

  // ---- hashes and holders -------------------------------------------------------------------

  /** Makes `torrents` the set a file holds, claiming new hashes and releasing the others. */
  #setTorrents(path: string, entry: FileEntry, torrents: Map<string, TorrentInfo>): void {
    for (const hash of entry.torrents.keys()) {
      if (!torrents.has(hash)) this.#release(hash, path);
    }
    for (const [hash, info] of torrents) {
      const owners = this.#owners.get(hash);
      // A hash keeps the time it became tracked, whichever file holds it now.
      const tracked = owners === undefined
        ? this.#orphans.get(hash)
        : this.#files.get(owners[0])?.torrents.get(hash);
      if (tracked?.addedAt !== undefined) info.addedAt = tracked.addedAt;
      if (owners === undefined) {
        this.#owners.set(hash, [path]);
        this.#orphans.delete(hash);
        this.#sink.addTorrent(hash, info); // an orphan's swarm is still there: see #finishBatch
      } else if (!owners.includes(path)) {
        owners.push(path);
      } else if (owners[0] === path) {
        this.#sink.addTorrent(hash, info); // same hash, metadata read again
      }
    }
    entry.torrents = torrents;
  }

  #release(hash: string, path: string): void {
    const owners = this.#owners.get(hash);
    if (owners === undefined) return;
    const i = owners.indexOf(path);
    if (i < 0) return;
    owners.splice(i, 1);
    if (owners.length === 0) {
      this.#owners.delete(hash);
      const info = this.#files.get(path)?.torrents.get(hash);
      if (info !== undefined) this.#orphans.set(hash, info);
    } else if (i === 0) {
      const info = this.#files.get(owners[0])?.torrents.get(hash);
      if (info !== undefined) this.#sink.addTorrent(hash, info);
    }
  }

  /**
   * Ends a batch of changes: hashes left without a holder are untracked now. Doing it last lets a
   * rename (remove + create in one batch) or a walk that meets the new path after dropping the
   * old keep the swarm.
   */
  #finishBatch(): void {
    for (const hash of this.#orphans.keys()) {
      if (!this.#owners.has(hash)) this.#sink.removeTorrent(hash);
    }
    this.#orphans.clear();
  }

  // ---- watcher ------------------------------------------------------------------------------

  /**
   * Starts the watcher, or restarts it when it died or when the root is no longer the directory
   * it watches (removed and re-created: the old watch sees nothing any more).
   */
  async #ensureWatcher(): Promise<void> {
    if (this.#closed || !this.options.watch) return;
    let key: string | undefined;
    try {
      const stat = await Deno.stat(this.root);
      if (stat.isDirectory) key = dirKey(this.root, stat);
    } catch {
      // no root: nothing to watch until it exists again
    }
    if (this.#watcher !== undefined && key === this.#watchedKey) return;
    if (this.#watcher !== undefined) {
      this.#watcher.close();
      await this.#watching;
    }
    if (key !== undefined) this.#startWatcher(key);
  }

  #startWatcher(key: string): void {
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(this.root, { recursive: true });
    } catch (e) {
      if (!this.#watchWarned) {
        this.#watchWarned = true;
        this.#log(
          "warning",
          `${this.root}: cannot watch (${
            errorText(e)
          }); changes are seen by the periodic scan only`,
        );
      }
      return;
    }
    this.#watchWarned = false;
    this.#watcher = watcher;
    this.#watchedKey = key;
    this.#watching = (async () => {
      try {
        for await (const event of watcher) this.#onEvent(event);
      } catch (e) {
        if (!this.#closed) this.#log("warning", `watcher stopped: ${errorText(e)}`);
      } finally {
        if (this.#watcher === watcher) this.#watcher = undefined;
      }
    })();
  }

  #onEvent(event: Deno.FsEvent): void {
    if (this.#closed || event.kind === "access") return;
    if (event.flag === "rescan") {
      // The kernel dropped events: only a full walk can tell what changed.
      this.#pendingFullScan = true;
      this.#armFlush();
      return;
    }
    for (const path of event.paths) this.#enqueue(path);
  }

  /** Adds a path to the next batch of checks. */
  #enqueue(path: string): void {
    if (this.#closed) return;
    if (this.#pending.size >= this.options.maxPendingPaths) this.#pendingFullScan = true;
    else this.#pending.add(path);
    this.#armFlush();
  }

  /** Debounce: check once events pause for `debounceMs`, but never later than `maxDelayMs`. */
  #armFlush(): void {
    const now = performance.now();
    if (this.#flushTimer === undefined) this.#firstPendingAt = now;
    else clearTimeout(this.#flushTimer);
    const delay = Math.min(
      this.options.debounceMs,
      Math.max(0, this.#firstPendingAt + this.options.maxDelayMs - now),
    );
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush();
    }, delay);
  }

  #flush(): void {
    if (this.#closed) return;
    if (this.#pendingFullScan) {
      this.#pending.clear();
      this.scanNow().catch(() => {});
      return;
    }
    const paths = [...this.#pending];
    this.#pending.clear();
    this.#serial(() => this.#checkPaths(paths, true)).catch(() => {});
  }

  // ---- links the watcher does not report ---------------------------------------------------

  /**
   * Looks at the next `linkPollBatch` directories the walks entered, in turns: one whose
   * modification time changed, or was too recent to trust when last seen, has its new or changed
   * links checked, as an event would have them.
   */
  #pollDirs(): void {
    if (this.#closed || this.#polling || this.#dirs.size === 0) return;
    this.#polling = true;
    this.#pollChanged().then((links) => {
      if (links.length > 0) this.#serial(() => this.#checkPaths(links, false)).catch(() => {});
    }).catch((e) => this.#log("warning", `looking for new links: ${errorText(e)}`))
      .finally(() => this.#polling = false);
  }

  /** The links to check in the directories of this turn that changed. */
  async #pollChanged(): Promise<string[]> {
    const links: string[] = [];
    const turn = Math.min(this.options.linkPollBatch, this.#dirs.size);
    for (let n = 0; n < turn && !this.#closed; n++) {
      let next = this.#pollTurn?.next();
      if (next === undefined || next.done) {
        this.#pollTurn = this.#dirs.entries();
        next = this.#pollTurn.next();
        if (next.done) break;
      }
      const [dir, mtime] = next.value;
      let now: number;
      try {
        now = settledMtime(await Deno.stat(dir));
      } catch {
        this.#dirs.delete(dir); // gone: its removal is the watcher's (or the next walk's) business
        continue;
      }
      if (now === mtime) continue; // NaN (not settled) never equals: read again
      this.#dirs.set(dir, now);
      try {
        for await (const entry of Deno.readDir(dir)) {
          if (links.length >= this.options.maxPendingPaths) break;
          const path = `${dir}/${entry.name}`;
          // A directory already entered needs no new walk; a refused link only once it changes.
          if (!entry.isSymlink || this.#dirs.has(path)) continue;
          const refused = this.#refused.get(path);
          if (refused !== undefined && refused === await Deno.readLink(path).catch(() => "")) {
            continue;
          }
          links.push(path);
        }
      } catch {
        // Gone or unreadable since its stat: the watcher or the next walk deals with it.
      }
    }
    return links;
  }

  // ---- a batch of paths ---------------------------------------------------------------------

  /**
   * Checks paths named by events or by the control socket, then ends the batch. A file path is
   * re-read when `force`d (an event means it changed even when its size and times look the same);
   * a directory is walked; a path that vanished drops every file remembered at or below it.
   */
  async #checkPaths(raw: string[], force: boolean): Promise<void> {
    const paths = raw.map((p) => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p))
      .filter((p) => this.#inside(p));
    if (paths.includes(this.root)) {
      await this.#fullScan(); // the root itself changed: only a full walk can tell
      return;
    }
    const generation = ++this.#generation;
    const dirs = new Set<string>(); // paths below which remembered files must be accounted for
    const walks: [string, number][] = [];
    for (const path of paths) {
      const level = path.slice(this.#base.length).split("/").length - 1;
      let stat: Deno.FileInfo | undefined;
      let real = path;
      try {
        ({ real, stat } = await this.#resolve(path));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          this.#log("warning", `${path}: cannot stat: ${errorText(e)}`);
          continue;
        }
      }
      // Files remembered below this path (it was, or still is, a directory) need a look too.
      if (this.#dirRefs.has(path)) dirs.add(path);
      if (stat?.isDirectory) {
        this.#forget(path);
        if (level <= this.options.maxScanDepth) walks.push([path, level]);
      } else if (stat?.isFile && isTorrentName(baseName(path))) {
        if (level <= this.options.maxScanDepth + 1) {
          await this.#checkFile(path, real, stat, force, generation);
        } else {
          this.#forget(path);
        }
      } else {
        this.#forget(path); // gone, or now something that is not a torrent file
      }
    }
    const unsure = new Set<string>(); // below these, a walk's silence does not mean "absent"
    for (const [dir, level] of walks) {
      const walk = await this.#walkBelow(dir, level, generation);
      if (walk === undefined) continue;
      this.#logWalk(dir, walk);
      for (const u of walk.unreadable) unsure.add(u);
      if (walk.truncated) unsure.add(dir);
    }
    if (dirs.size > 0) {
      const missed: string[] = [];
      for (const [path, entry] of this.#files) {
        if (entry.seen !== generation && hasAncestorIn(path, this.#base, dirs)) missed.push(path);
      }
      for (const path of missed) {
        if (hasAncestorIn(path, this.#base, unsure)) await this.#checkKnownFile(path);
        else this.#forget(path);
      }
    }
    this.#finishBatch();
  }

  /** Walks a sub-directory at `level`, with its ancestors marked visited so links to them stop. */
  async #walkBelow(
    dir: string,
    level: number,
    generation: number,
  ): Promise<WalkResult | undefined> {
    const visited = new Set<string>();
    let ancestor = dir;
    while (ancestor.length > this.#base.length) {
      ancestor = ancestor.slice(0, ancestor.lastIndexOf("/"));
      try {
        const real = await Deno.realPath(ancestor || "/");
        visited.add(dirKey(real, await Deno.stat(real)));
      } catch {
        // an ancestor that vanished: the walk below will find nothing either
      }
    }
    try {
      return await walkTree(dir, {
        signal: this.#abort.signal,
        startLevel: level,
        visited,
        maxDepth: this.options.maxScanDepth,
        maxEntries: this.options.maxScanInodes,
        wanted: isTorrentName,
        admit: this.#admit,
        onDirectory: (path, stat) => {
          if (this.#dirs.size < this.options.maxScanInodes) {
            this.#dirs.set(path, settledMtime(stat));
          }
        },
        onFiles: async (files) => {
          await this.#checkFiles(files, false, generation);
        },
      });
    } catch (e) {
      if (
        !this.#closed &&
        !(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)
      ) {
        this.#log("warning", `${dir}: cannot scan: ${errorText(e)}`);
      }
      return undefined;
    }
  }

  #inside(path: string): boolean {
    return path === this.root || path.startsWith(this.#base + "/");
  }
}

/** A path resolved by the whitelist: its real path, and its `stat` unless it was refused. */
type Resolved = { real: string; stat: Deno.FileInfo; refusal?: undefined } | {
  real: string;
  stat?: undefined;
  refusal: string;
};

/**
 * How long after a directory's modification time that time is trusted to tell "unchanged". A
 * link made in the same clock tick as the last look (file system timestamps are coarse: a few
 * milliseconds, 2 s on FAT) leaves the time as it was; so a directory whose time was that recent
 * when seen is read again at its next turn, until its time is old enough (as git and make treat
 * "racy" timestamps).
 */
const RACY_MTIME_MS = 2000;

/**
 * A directory's modification time as the link poll remembers it, or NaN while it is within
 * {@link RACY_MTIME_MS} of now (or in the future): NaN equals nothing, so the next turn reads it.
 */
function settledMtime(stat: Deno.FileInfo): number {
  const mtime = stat.mtime?.getTime() ?? 0;
  return mtime > Date.now() - RACY_MTIME_MS ? NaN : mtime;
}

/** The tracker's metadata for each hash clients announce a parsed file with. */
function torrentsOf(
  m: Metainfo,
  path: string,
  addedAt: number,
  fileSize: number,
): Map<string, TorrentInfo> {
  const out = new Map<string, TorrentInfo>();
  for (const key of wireHashes(m)) {
    const v1 = key === m.infoHashV1;
    out.set(key, {
      name: m.name,
      length: m.totalLength,
      version: v1 ? 1 : 2,
      fullHash: v1 ? key : m.infoHashV2!,
      path,
      addedAt,
      webSeeds: webSeedsOf(m),
      fileSize,
    });
  }
  return out;
}

/** Most web seeds kept per torrent, and the longest URL kept: enough for any real release. */
export const WEB_SEED_LIMITS = { count: 16, length: 2048 };

/**
 * The web seeds worth keeping: http and https URLs only (they end up as links on pages and in
 * the feed, where a `javascript:` URL must never go), each at most `WEB_SEED_LIMITS.length`
 * long, at most `WEB_SEED_LIMITS.count` of them. Undefined when there is none.
 */
export function webSeedsOf(m: Metainfo): string[] | undefined {
  const out: string[] = [];
  for (const url of m.urlList ?? []) {
    if (out.length >= WEB_SEED_LIMITS.count) break;
    if (url.length <= WEB_SEED_LIMITS.length && /^https?:\/\/[^\s]+$/i.test(url)) out.push(url);
  }
  return out.length > 0 ? out : undefined;
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Size, modification and change times, and identity: equal means the file was not touched. */
function signatureOf(stat: Deno.FileInfo): string {
  return `${stat.size}:${stat.mtime?.getTime()}:${stat.ctime?.getTime()}:${stat.dev}:${stat.ino}`;
}

/** True when `path`, or one of its ancestors strictly below `root`, is in `set`. */
function hasAncestorIn(path: string, root: string, set: ReadonlySet<string>): boolean {
  let p = path;
  while (p.length > root.length) {
    if (set.has(p)) return true;
    p = p.slice(0, p.lastIndexOf("/"));
  }
  return false;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
