/**
 * A bounded walk of a directory tree: the part of the whitelist that touches directories.
 *
 * Every bound of the reference §9.1 holds for real here, where the original ignores several:
 * the depth limit, an entry budget that stops the walk (the original only logs and walks on), and
 * loop detection by directory identity (the original follows symlink loops until the depth limit).
 * Nothing but `realPath`, `stat` and `readDir` is called, so fifos, sockets and devices are never
 * opened and cannot block the walk; an entry that cannot be read is counted and skipped.
 *
 * Symbolic links are resolved to their real paths, which the caller admits or refuses
 * ({@link WalkOptions.admit}): that is how the whitelist keeps links from leading it out of the
 * torrent directory or into a path the sandbox denies. A directory is entered once, by whichever
 * path reaches it first, so links back into the tree cost one `realPath` and one `stat`.
 *
 * @module
 */

/** A file the walk found whose name the caller wanted. */
export interface FoundFile {
  /** Its path: the walked directory's path, then `/` and the names below it. */
  path: string;
  /** Where it really is: `path` with every symbolic link on the way resolved. */
  real: string;
  /** Its level: 1 for an entry of the walk's root, when the walk starts at level 0. */
  level: number;
  /** `stat` of the entry, symlinks followed. */
  stat: Deno.FileInfo;
}

/** Bounds of one walk. */
export interface WalkLimits {
  /**
   * Deepest directory level entered: a directory at level L (the root's entries are level 1) is
   * read only when L ≤ maxDepth, so files up to level maxDepth + 1 are found (as in the original).
   */
  maxDepth: number;
  /** Most directory entries visited; the walk stops once this many were seen. */
  maxEntries: number;
}

/** What one walk did, for logs and for deciding what its silence means. */
export interface WalkResult {
  /** Directory entries visited. */
  entries: number;
  /** True when the walk stopped at {@link WalkLimits.maxEntries}: it did not see the whole tree. */
  truncated: boolean;
  /** Directories not entered because they lie deeper than {@link WalkLimits.maxDepth}. */
  tooDeep: number;
  /** Directories skipped because the walk had already been in them (symlink loops, bind mounts). */
  loops: number;
  /**
   * Directories that exist but could not be read or stat'ed (permissions, I/O errors, symlink
   * loops the kernel refuses). Files known below them cannot be judged absent.
   */
  unreadable: string[];
  /** Errors met (each also in `unreadable` for directories, or a skipped entry otherwise). */
  errors: number;
  /** Entries not followed because {@link WalkOptions.admit} refused where they lead. */
  refused: number;
  /** The first few refusals, as `admit` explained them, for the log. */
  refusals: string[];
}

/** Where the walk starts and what it collects. */
export interface WalkOptions extends WalkLimits {
  /** Level of the starting directory: 0 for the whitelist root, more for a sub-directory. */
  startLevel?: number;
  /**
   * Directories known to have been entered already (keys from {@link dirKey}); the walk adds the
   * ones it enters. Seeding it with a sub-walk's ancestors keeps a link to an ancestor a loop.
   */
  visited?: Set<string>;
  /**
   * Whether an entry may be followed to where it really is, `real` (its real path): undefined when
   * it may, else why not. Called for the root and every directory, link and wanted file before it
   * is `stat`ed. Everything is admitted without it.
   */
  admit?(real: string, path: string): string | undefined;
  /** Told of every directory the walk enters (the root included), with its `stat`. */
  onDirectory?(path: string, stat: Deno.FileInfo): void;
  /** Which file names to stat and report. Other names cost nothing beyond `readDir`. */
  wanted(name: string): boolean;
  /**
   * Called with the wanted regular-looking entries (after `stat`, so never a fifo or socket), a
   * batch of at most `concurrency` at a time in name order, so the caller may read them in
   * parallel. The walk waits for it before going on.
   */
  onFiles(files: FoundFile[]): void | Promise<void>;
  /** Most `stat` calls in flight at once, and largest batch given to `onFiles`. Default 32. */
  concurrency?: number;
  /** Stops the walk (it then throws the signal's reason) before the next directory. */
  signal?: AbortSignal;
}

/** The identity of a directory: device and inode, or its path where the system gives no inode. */
export function dirKey(path: string, stat: Deno.FileInfo): string {
  return stat.ino === null ? `path:${path}` : `${stat.dev}:${stat.ino}`;
}

/**
 * Walks `root` depth first, each directory's entries in name order so that which file wins a
 * duplicate, or falls past a limit, does not change from one walk to the next.
 *
 * @throws {Deno.errors.NotFound} when `root` does not exist, {@link WalkRefusedError} when `admit`
 * refuses where it leads, and whatever `stat` of the root throws; errors below the root are counted
 * in the result, never thrown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { walkTree } from "./walk.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/a`);
 * await Deno.writeTextFile(`${dir}/a/x.torrent`, "");
 * const found: string[] = [];
 * const result = await walkTree(dir, {
 *   maxDepth: 8, maxEntries: 100,
 *   wanted: (name) => name.endsWith(".torrent"),
 *   onFiles: (files) => { for (const f of files) found.push(f.path); },
 * });
 * assert.deepEqual(found, [`${dir}/a/x.torrent`]);
 * assert.equal(result.entries, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function walkTree(root: string, options: WalkOptions): Promise<WalkResult> {
  const result: WalkResult = {
    entries: 0,
    truncated: false,
    tooDeep: 0,
    loops: 0,
    unreadable: [],
    errors: 0,
    refused: 0,
    refusals: [],
  };
  const realRoot = await Deno.realPath(root);
  const refusal = options.admit?.(realRoot, root);
  if (refusal !== undefined) throw new WalkRefusedError(refusal);
  const rootStat = await Deno.stat(realRoot);
  if (!rootStat.isDirectory) throw new Deno.errors.NotADirectory(`not a directory: ${root}`);
  const visited = options.visited ?? new Set<string>();
  const concurrency = Math.max(1, options.concurrency ?? 32);
  visited.add(dirKey(realRoot, rootStat));
  options.onDirectory?.(root, rootStat);
  const base = root.endsWith("/") ? root.slice(0, -1) : root; // "/" becomes "", entries "/x"
  const realBase = entryPrefix(realRoot);

  // Explicit stack instead of recursion: depth is bounded anyway, but the stack stays flat.
  const stack: [dir: string, level: number, real: string][] = [
    [base, options.startLevel ?? 0, realBase],
  ];
  while (stack.length > 0) {
    options.signal?.throwIfAborted();
    const [dir, level, realDir] = stack.pop()!;
    let names: Deno.DirEntry[];
    try {
      names = await readEntries(dir === "" ? "/" : dir, options.maxEntries - result.entries);
    } catch (e) {
      // A directory that vanished mid-walk is simply absent; anything else keeps what lies below.
      if (!(e instanceof Deno.errors.NotFound)) {
        result.errors++;
        result.unreadable.push(dir);
      }
      continue;
    }
    if (result.entries + names.length > options.maxEntries) {
      names.length = options.maxEntries - result.entries;
      result.truncated = true;
    }
    result.entries += names.length;
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Plain files with unwanted names, and fifos, sockets and devices, need no stat at all.
    const candidates = names.filter((e) =>
      e.isDirectory || e.isSymlink || (e.isFile && options.wanted(e.name))
    );
    const subdirs: [path: string, real: string][] = [];
    for (let i = 0; i < candidates.length; i += concurrency) {
      const chunk = candidates.slice(i, i + concurrency);
      // A link is followed to its real path, if admitted; the entries of a chunk run in parallel.
      const stats = await Promise.allSettled(chunk.map(async (e) => {
        const real = e.isSymlink ? await Deno.realPath(`${dir}/${e.name}`) : `${realDir}/${e.name}`;
        const refusal = options.admit?.(real, `${dir}/${e.name}`);
        if (refusal !== undefined) return { real, refusal };
        return { real, stat: await Deno.stat(real) };
      }));
      const found: FoundFile[] = [];
      for (let j = 0; j < chunk.length; j++) {
        const entry = chunk[j];
        const path = `${dir}/${entry.name}`;
        const outcome = stats[j];
        if (outcome.status === "rejected") {
          if (outcome.reason instanceof Deno.errors.NotFound) continue; // gone, or dangling
          result.errors++;
          if (!entry.isFile) result.unreadable.push(path);
          continue;
        }
        const { real, stat, refusal } = outcome.value;
        if (stat === undefined) {
          result.refused++;
          if (result.refusals.length < 10) result.refusals.push(refusal!);
          continue;
        }
        if (stat.isDirectory) {
          if (level + 1 > options.maxDepth) {
            result.tooDeep++;
            continue;
          }
          const key = dirKey(real, stat);
          if (visited.has(key)) {
            result.loops++;
            continue;
          }
          visited.add(key);
          options.onDirectory?.(path, stat);
          subdirs.push([path, entryPrefix(real)]);
        } else if (stat.isFile && options.wanted(entry.name)) {
          found.push({ path, real, level: level + 1, stat });
        }
      }
      if (found.length > 0) await options.onFiles(found);
    }
    // Reversed so that the stack pops them in name order.
    for (let i = subdirs.length - 1; i >= 0; i--) {
      stack.push([subdirs[i][0], level + 1, subdirs[i][1]]);
    }
    if (result.truncated) break;
  }
  return result;
}

/**
 * A directory's path as the prefix of its entries' paths (`${prefix}/${name}`): "/" becomes "",
 * so that the entries of the root read "/x", not "//x".
 */
export function entryPrefix(dir: string): string {
  return dir === "/" ? "" : dir;
}

/** The walk's root leads where {@link WalkOptions.admit} refuses to go; the message says why. */
export class WalkRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WalkRefusedError";
  }
}

/** Reads at most `budget + 1` entries of a directory: one more shows the budget is exceeded. */
async function readEntries(dir: string, budget: number): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(dir)) {
    out.push(entry);
    if (out.length > budget) break;
  }
  return out;
}
