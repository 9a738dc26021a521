/**
 * The deny list: networks whose announces and scrapes are refused, from `--deny-from` (fixed) and
 * `--deny-file` (one address or CIDR network per line, `#` starts a comment), which is reloaded
 * when it changes, like the torrent directory.
 *
 * The file is polled (its size, modification time and inode) every few seconds rather than
 * watched: it is one file, a poll is one `stat`, and editors and configuration tools replace
 * files in ways (rename over, delete and re-create) that a watch on the file itself loses. A file
 * that cannot be read or holds a line that is not a network is refused as a whole: at start that
 * stops Hefur; later the previous list stays in force and the reason is logged.
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import { IpSet, IpSetError } from "../protocol/ip_set.ts";
import { readFileSafely } from "../sandbox/safe_files.ts";

const log = getLogger("hefur");

/** Bounds of a deny file: a large public blocklist fits, a wrong file (a disk image) does not. */
export const DENY_FILE_LIMITS = { maxBytes: 32 << 20, maxEntries: 1_000_000 };

/** A deny file that cannot be used; `path` names it, `line` the offending line when there is one. */
export class DenyFileError extends Error {
  override name = "DenyFileError";
  constructor(message: string, readonly path: string, readonly line?: number) {
    super(message);
  }
}

/**
 * Reads the text of a deny file into its entries. Throws {@link DenyFileError} naming the first
 * line that is not an address or network, or a file past {@link DENY_FILE_LIMITS}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDenyFile } from "./deny_list.ts";
 * assert.deepEqual(parseDenyFile("# spammers\n10.0.0.0/8\n\n2001:db8::/32  # lab\n", "f"),
 *   ["10.0.0.0/8", "2001:db8::/32"]);
 * ```
 */
export function parseDenyFile(text: string, path: string): string[] {
  const entries: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i].indexOf("#");
    const entry = (hash >= 0 ? lines[i].slice(0, hash) : lines[i]).trim();
    if (entry === "") continue;
    if (entries.length >= DENY_FILE_LIMITS.maxEntries) {
      throw new DenyFileError(
        `${path}: more than ${DENY_FILE_LIMITS.maxEntries} networks`,
        path,
        i + 1,
      );
    }
    if (!/^[0-9A-Fa-f.:]+(\/[0-9]{1,3})?$/.test(entry)) {
      throw new DenyFileError(
        `${path}:${i + 1}: not an IP address or CIDR network: "${entry.slice(0, 100)}"`,
        path,
        i + 1,
      );
    }
    entries.push(entry);
  }
  return entries;
}

/** Settings of a {@link DenyList}. */
export interface DenyListOptions {
  /** Networks from `--deny-from`. */
  networks: readonly string[];
  /** `--deny-file`, "" for none. */
  file: string;
  /** Milliseconds between two checks of the file. */
  pollMs: number;
}

/** The networks refused, kept current with the deny file. */
export class DenyList {
  readonly options: DenyListOptions;
  #set: IpSet;
  #fixed: readonly string[];
  #signature = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking: Promise<void> | undefined;
  /** Reloads of the file that were refused (bad line, unreadable). */
  reloadFailures = 0;
  /** Reloads of the file that were applied (the first read included). */
  reloads = 0;

  /**
   * Checks `--deny-from` now (throws {@link IpSetError} naming a bad entry); the file is read by
   * {@link start}.
   */
  constructor(options: DenyListOptions) {
    this.options = options;
    this.#fixed = options.networks;
    this.#set = new IpSet(this.#fixed);
  }

  /** True when nothing is denied: the request path skips the look-up. */
  get empty(): boolean {
    return this.#set.empty;
  }

  /** Number of (merged) ranges denied. */
  get size(): number {
    return this.#set.size;
  }

  /** True when the canonical address `ip` is denied. */
  has(ip: string): boolean {
    return !this.#set.empty && this.#set.has(ip);
  }

  /** Reads the deny file (throws {@link DenyFileError}) and starts polling it for changes. */
  async start(): Promise<void> {
    if (this.options.file === "") return;
    const stat = await this.#stat();
    if (stat === undefined) {
      throw new DenyFileError(`cannot read the deny file ${this.options.file}`, this.options.file);
    }
    await this.#load(stat);
    this.#timer = setInterval(() => {
      this.#checking ??= this.check().finally(() => this.#checking = undefined);
    }, this.options.pollMs);
  }

  /**
   * Reloads the file if it changed since the last load. A file that went missing or got worse
   * keeps the previous list (logged).
   */
  async check(): Promise<void> {
    const stat = await this.#stat();
    if (stat === undefined) {
      if (this.#signature !== "missing") {
        this.#signature = "missing";
        this.reloadFailures++;
        log.warning("deny file {path} is gone: keeping the {n} networks denied before", {
          path: this.options.file,
          n: this.#set.size,
        });
      }
      return;
    }
    if (signatureOf(stat) === this.#signature) return;
    try {
      await this.#load(stat);
      log.info("deny file {path} reloaded: {n} networks denied", {
        path: this.options.file,
        n: this.#set.size,
      });
    } catch (e) {
      this.#signature = signatureOf(stat); // logged once per version of the file
      this.reloadFailures++;
      log.warning("{error}; keeping the {n} networks denied before", {
        error: (e as Error).message,
        n: this.#set.size,
      });
    }
  }

  /** Stops polling. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  async #stat(): Promise<Deno.FileInfo | undefined> {
    try {
      return await Deno.stat(this.options.file);
    } catch {
      return undefined;
    }
  }

  async #load(stat: Deno.FileInfo): Promise<void> {
    const path = this.options.file;
    if (!stat.isFile) throw new DenyFileError(`${path}: not a regular file`, path);
    if (stat.size > DENY_FILE_LIMITS.maxBytes) {
      throw new DenyFileError(`${path}: larger than ${DENY_FILE_LIMITS.maxBytes} bytes`, path);
    }
    let text: string;
    try {
      text = new TextDecoder().decode(await readFileSafely(path, DENY_FILE_LIMITS.maxBytes));
    } catch (e) {
      throw new DenyFileError(`cannot read the deny file ${path}: ${(e as Error).message}`, path);
    }
    const entries = parseDenyFile(text, path);
    let set: IpSet;
    try {
      set = new IpSet([...this.#fixed, ...entries]);
    } catch (e) {
      if (!(e instanceof IpSetError)) throw e;
      const line = text.split("\n").findIndex((l) => l.includes(e.entry.trim())) + 1;
      throw new DenyFileError(`${path}:${line}: ${e.message}`, path, line);
    }
    this.#set = set;
    this.#signature = signatureOf(stat);
    this.reloads++;
  }
}

function signatureOf(stat: Deno.FileInfo): string {
  return `${stat.size}:${stat.mtime?.getTime()}:${stat.ino}`;
}
