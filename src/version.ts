/**
 * The version of Hefur, from `deno.json`, the commit it was built from, and the Deno it runs on
 * (in the executable, the runtime `deno compile` embedded: the Deno it was built with).
 *
 * The commit reaches the compiled binary as a baked argument: `deno compile` stores the arguments
 * that follow the entry point in the executable and passes them before the user's, so `build.ts`
 * compiles `src/main.ts --build-commit=<id>` and every run of `dist/hefur` starts with that flag.
 * This needs no environment variable (none to allow in the sandbox, none a caller could set to
 * lie about the build) and no generated source file. Run from source, the commit is "unknown".
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The release version, e.g. `0.1.0`. */
export const VERSION: string = denoJson.version;

/** Prefix of the argument `build.ts` bakes into the executable. */
export const BUILD_COMMIT_FLAG = "--build-commit=";

/** The command line with the baked build argument taken off. */
export interface BuildArgs {
  /** The commit the executable was built from, or "unknown" when run from source. */
  commit: string;
  /** The user's arguments. */
  args: string[];
}

/**
 * Takes the baked `--build-commit=<id>` off the front of `args`. Only the first argument counts:
 * the baked one always comes first, so a user's later `--build-commit` stays an ordinary argument.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { takeBuildArgs } from "./version.ts";
 * assert.deepEqual(takeBuildArgs(["--build-commit=1a2b3c4", "--version"]), {
 *   commit: "1a2b3c4",
 *   args: ["--version"],
 * });
 * assert.deepEqual(takeBuildArgs(["serve"]), { commit: "unknown", args: ["serve"] });
 * ```
 */
export function takeBuildArgs(args: readonly string[]): BuildArgs {
  const [first, ...rest] = args;
  if (first?.startsWith(BUILD_COMMIT_FLAG)) {
    return { commit: first.slice(BUILD_COMMIT_FLAG.length) || "unknown", args: rest };
  }
  return { commit: "unknown", args: [...args] };
}

/**
 * The text `hefur --version` prints: the version and commit, then the Deno version and target,
 * then the licence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { versionText } from "./version.ts";
 * assert.match(
 *   versionText("1a2b3c4", "2.9.6", "aarch64-apple-darwin"),
 *   /^hefur \d+\.\d+\.\d+ \(commit 1a2b3c4\)\nDeno 2\.9\.6 \(aarch64-apple-darwin\)\n/,
 * );
 * ```
 */
export function versionText(
  commit = "unknown",
  deno: string = Deno.version.deno,
  target: string = Deno.build.target,
): string {
  return `hefur ${VERSION} (commit ${commit})\n` +
    `Deno ${deno} (${target})\n` +
    "A BitTorrent tracker. Free software under the MIT licence, with no warranty.\n";
}
