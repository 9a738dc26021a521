/**
 * Checks made before `hefur serve` opens anything, of mistakes that would otherwise show only
 * later: a `--torrent-dir` that does not exist (a typo starts a tracker that refuses every
 * announce), a `--state-file` that cannot be written (found at the first save, minutes later).
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { ServeConfig } from "./args.ts";
import { explainSandbox } from "./sandbox_message.ts";

/** A configuration that would start a broken tracker; the message says what to do. */
export class PreflightError extends Error {
  override name = "PreflightError";
}

function reason(e: unknown): string {
  return explainSandbox((e as Error).message);
}

/** Refuses a `--torrent-dir` that is missing (unless allowed to be) or not a directory. */
export function checkTorrentDir(config: ServeConfig, origin: (name: string) => string): void {
  const dir = config.torrentDir;
  if (dir === "") return;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      if (config.torrentDirMayBeMissing) return;
      throw new PreflightError(
        `${origin("torrent-dir")}: ${resolve(dir)} does not exist; create it, correct the ` +
          `path, or add --torrent-dir-may-be-missing to start anyway and track it once it appears`,
      );
    }
    throw new PreflightError(`${origin("torrent-dir")}: cannot read ${dir}: ${reason(e)}`);
  }
  if (!info.isDirectory) {
    throw new PreflightError(`${origin("torrent-dir")}: ${dir} is not a directory`);
  }
}

/**
 * Refuses a `--state-file` whose directory does not exist or cannot be written to: saves write a
 * new file there and rename it over the old one. Tried by creating (and removing) an empty file.
 */
export function checkStateFile(config: ServeConfig, origin: (name: string) => string): void {
  const path = config.stateFile;
  if (path === "") return;
  const dir = dirname(resolve(path));
  try {
    if (Deno.statSync(path).isDirectory) {
      throw new PreflightError(`${origin("state-file")}: ${path} is a directory`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      if (e instanceof PreflightError) throw e;
      throw new PreflightError(`${origin("state-file")}: cannot read ${path}: ${reason(e)}`);
    }
  }
  try {
    Deno.removeSync(Deno.makeTempFileSync({ dir, prefix: ".hefur-write-check-" }));
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? `the directory ${dir} does not exist`
      : `cannot write in ${dir}: ${reason(e)}`;
    throw new PreflightError(`${origin("state-file")}: ${why}; the state could never be saved`);
  }
}

/** Every check above; throws the first {@link PreflightError}. */
export function preflight(config: ServeConfig, origin: (name: string) => string): void {
  checkTorrentDir(config, origin);
  checkStateFile(config, origin);
}
