/**
 * Where a relative path given to `hefur` points. `deno task start …` and `deno task hefur ctl …`
 * run in the project's directory and say in INIT_CWD where they were called from, so a relative
 * path on their command line is resolved against that, as the caller meant it. The compiled
 * binary has no INIT_CWD: its own working directory is the caller's, and paths stay as given.
 *
 * A path inside a `--config` file is resolved against the file's own directory, so the file
 * means the same wherever Hefur is started from.
 *
 * @module
 */
import { dirname, resolve } from "node:path";

/** The `hefur serve` options whose value is a file or directory path. */
export const PATH_OPTIONS: readonly string[] = [
  "config",
  "torrent-dir",
  "www-dir",
  "http-cert",
  "http-key",
  "state-file",
  "deny-file",
  "log-file",
  "audit-log",
  "control-socket",
];

/**
 * `path` as the caller meant it: resolved against INIT_CWD when that is set, else unchanged. An
 * empty path (an option's "none") stays empty.
 */
export function callerPath(path: string): string {
  const from = Deno.env.get("INIT_CWD");
  return from && path !== "" ? resolve(from, path) : path;
}

/**
 * `path`, read from the `--config` file `configFile` (itself as the caller meant it), resolved
 * against that file's directory. An empty path stays empty.
 */
export function configFilePath(path: string, configFile: string): string {
  return path === "" ? path : resolve(dirname(configFile), path);
}
