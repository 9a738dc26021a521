/**
 * The systems Hefur is built for, and what does not work on each: the one table that `build.ts`,
 * the release workflow's test (tests/workflows_test.ts), `hefur --help` and the start-up warning
 * read.
 *
 * Hefur is written for Linux. macOS runs it with a few things missing (listed below). Windows is
 * not a target: the control socket (`hefur ctl`) is a Unix socket, the graceful stop and the
 * log reopening hang on SIGTERM, SIGQUIT and SIGHUP, which a Windows process never receives, and
 * the sandbox's deny list names Unix paths, so there it would guard nothing; WSL or the container
 * image run the Linux build instead.
 *
 * @module
 */

/** The Deno release that builds and tests Hefur, and whose runtime the executables embed. */
export const DENO_VERSION = "2.9.6";

/** How well a system runs Hefur. */
export type Support = "full" | "partial";

/** One system Hefur is built for. */
export interface Target {
  /** The `deno compile --target` name, e.g. `x86_64-unknown-linux-gnu`. */
  readonly target: string;
  /** `Deno.build.os` on that system. */
  readonly os: "linux" | "darwin";
  /** The GitHub Actions runner label that runs this target's executable in the release test. */
  readonly runner: string;
  /** The container platform the Linux executables are packaged for, if any. */
  readonly containerPlatform?: string;
  /** What Hefur does without on that system; empty when nothing is missing. */
  readonly missing: readonly string[];
}

/** What is missing on macOS, one sentence each. */
const MACOS_MISSING: readonly string[] = [
  "--uid/--gid: root's supplementary groups cannot be cleared in the sandbox (setgroups needs " +
  "FFI), so the switch fails; start Hefur as its own user (launchd's UserName) instead",
  "the sandbox's deny list names Linux files (/etc/shadow, /proc…): programs, native code, " +
  "run-time imports and the cloud metadata address stay refused, but no macOS secret " +
  "(Keychains, /var/db) is guarded",
];

/** Every target the release builds, tests on its own system and publishes. */
export const TARGET_TABLE: readonly Target[] = [
  {
    target: "x86_64-unknown-linux-gnu",
    os: "linux",
    runner: "ubuntu-latest",
    containerPlatform: "linux/amd64",
    missing: [],
  },
  {
    target: "aarch64-unknown-linux-gnu",
    os: "linux",
    runner: "ubuntu-24.04-arm",
    containerPlatform: "linux/arm64",
    missing: [],
  },
  { target: "x86_64-apple-darwin", os: "darwin", runner: "macos-15-intel", missing: MACOS_MISSING },
  { target: "aarch64-apple-darwin", os: "darwin", runner: "macos-latest", missing: MACOS_MISSING },
];

/** How well `os` (a `Deno.build.os` value) runs Hefur: "unsupported" when it is no target. */
export function supportOf(os: string): Support | "unsupported" {
  const targets = TARGET_TABLE.filter((t) => t.os === os);
  if (targets.length === 0) return "unsupported";
  return targets.every((t) => t.missing.length === 0) ? "full" : "partial";
}

/** The names of `os`'s system in the notes below. */
const OS_NAMES: Record<string, string> = { linux: "Linux", darwin: "macOS", windows: "Windows" };

/**
 * What is missing on `os`, as lines for `--help` and the start-up warning; empty on a fully
 * supported system.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { platformNotes } from "./platform.ts";
 * assert.deepEqual(platformNotes("linux"), []);
 * assert.match(platformNotes("darwin")[0], /^On macOS, Hefur runs without:/);
 * ```
 */
export function platformNotes(os: string = Deno.build.os): string[] {
  const name = OS_NAMES[os] ?? os;
  const support = supportOf(os);
  if (support === "full") return [];
  if (support === "unsupported") {
    return [
      `${name} is not a system Hefur supports (it is built for Linux and macOS): the control ` +
      "socket, the signals and the sandbox's deny list may not work; use the Linux build " +
      "(in WSL or the container image).",
    ];
  }
  const missing = TARGET_TABLE.find((t) => t.os === os)!.missing;
  return [`On ${name}, Hefur runs without:`, ...missing.map((m) => `  - ${m}`)];
}

/**
 * {@link platformNotes} as the one warning line `hefur serve` logs at start-up, or undefined on a
 * fully supported system.
 */
export function platformWarning(os: string = Deno.build.os): string | undefined {
  const [head, ...items] = platformNotes(os);
  if (head === undefined) return undefined;
  return items.length === 0
    ? head
    : `${head} ${items.map((i) => i.replace(/^ +- /, "")).join("; ")}`;
}

/** {@link platformNotes} as a paragraph to add to `--help`, or "" on a fully supported system. */
export function platformHelp(os: string = Deno.build.os): string {
  const notes = platformNotes(os);
  return notes.length === 0 ? "" : `\n${notes.join("\n")}\n`;
}
