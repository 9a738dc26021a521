/**
 * `deno task build`: compiles Hefur into one executable with `deno compile`.
 *
 * ```sh
 * deno task build                                      # dist/hefur for this machine
 * deno task build --target aarch64-unknown-linux-gnu   # dist/hefur-aarch64-unknown-linux-gnu
 * deno task build --all                                # every target of src/platform.ts
 * deno task build --release                            # what a release publishes (see below)
 * deno task build --dry-run                            # print the deno compile commands only
 * ```
 *
 * The executable carries the permission set `hefur` of `deno.json` (the one place it is defined:
 * the `start` and `hefur` tasks run the sources with the same {@link SANDBOX_FLAGS}, after
 * {@link RUN_FLAGS}), the page
 * assets of `www/`, and the commit it was built from (see `src/version.ts`).
 *
 * `deno compile` joins the program to *denort*, the Deno runtime without its tooling, which it
 * downloads from Deno's release server on first use and caches in `DENO_DIR`. Where that server
 * cannot be reached, point `DENORT_BIN` at a denort of the same Deno version and target; when the
 * runtime is missing and cannot be fetched, this script says so and how to fix it, and exits with
 * {@link EXIT_NO_RUNTIME}. A failed build leaves no output directory it created behind.
 *
 * `--release` (every target unless `--target` names some) is what `.github/workflows/release.yml`
 * runs: every executable named `hefur-<target>`, their SHA-256 checksums in `SHA256SUMS` (the
 * format `sha256sum -c` reads), and, in `probes/`, the sandbox probe of `tests/fixtures/` compiled
 * with the same sandbox for each target, which the release's smoke test runs on each system
 * (tests/release_smoke_test.ts). It refuses to run on a Deno other than {@link DENO_VERSION}.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { DENO_VERSION, TARGET_TABLE } from "./src/platform.ts";

/**
 * The sandbox, given to `deno run` and `deno compile` alike: the permission set `hefur` from
 * `deno.json`; never prompt (a service fails instead of waiting on a terminal); and only the
 * dependency versions pinned in `deno.lock` (from source, a dynamic `npm:` import of anything
 * else would otherwise be downloaded and run).
 */
export const SANDBOX_FLAGS: readonly string[] = [
  "--permission-set=hefur",
  "--no-prompt",
  "--frozen",
];

/**
 * Flags of the `start` and `hefur` tasks only, before {@link SANDBOX_FLAGS}: `--quiet` keeps
 * Deno's own diagnostics (its warning that permission sets in deno.json are experimental, download
 * progress) off standard error, as the executable keeps them; errors are still printed. The
 * permissions stay those of the permission set.
 */
export const RUN_FLAGS: readonly string[] = ["--quiet"];

/**
 * V8 settings, given to `deno run` and `deno compile` alike (after {@link SANDBOX_FLAGS}). A young
 * generation of at most 2 MiB per semi-space instead of V8's default 16: under load a tracker
 * allocates a little per request, and the young generation otherwise grows to tens of MiB whatever
 * the number of peers. Measured with `deno task bench`: about 40 bytes less RSS per peer at a
 * million peers (124 instead of 166), and no measurable change in CPU per request over UDP or HTTP.
 */
export const V8_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=2"];

/**
 * Flags of `deno compile` alone: embed only the npm packages the program imports (Hefur's
 * `src/`, the Redis store's dynamic import included: it names its module literally), not the
 * test-only ones of `deno.lock` (a YAML parser, XML and feed parsers).
 */
export const COMPILE_FLAGS: readonly string[] = ["--exclude-unused-npm"];

/** The entry point, relative to the project root. */
export const ENTRY = "src/main.ts";

/** The sandbox probe, built beside the release's executables (see the module comment). */
export const PROBE_ENTRY = "tests/fixtures/sandbox_probe.ts";

/** The targets Hefur is built for: those of `src/platform.ts`, where what each lacks is said. */
export const TARGETS: readonly string[] = TARGET_TABLE.map((t) => t.target);

export { DENO_VERSION };

/**
 * Deno's notice, at every `deno compile`, that permission sets in deno.json are experimental: left
 * out of what the build prints (as `--quiet` leaves it out of the tasks), nothing else is.
 */
const PERMISSION_SET_NOTICE = /^Warning Permissions in the config file is an experimental .*\n/m;

/** Exit code when the runtime `deno compile` needs is missing and cannot be fetched. */
export const EXIT_NO_RUNTIME = 3;

/** Exit code of a bad command line. */
export const EXIT_USAGE = 2;

/** What `build.ts` was asked to do. */
export interface BuildOptions {
  /** Targets to build; empty means this machine's. */
  targets: string[];
  /** Print the commands instead of running them. */
  dryRun: boolean;
  /** Directory the executables go to, relative to the project root or absolute. */
  outDir: string;
  /** Build what a release publishes: `hefur-<target>` each, SHA256SUMS and the probes. */
  release: boolean;
}

/** A bad `build.ts` command line. */
export class BuildUsageError extends Error {
  /** The offending argument. */
  readonly value: string;

  constructor(message: string, value: string) {
    super(message);
    this.name = "BuildUsageError";
    this.value = value;
  }
}

/** The runtime `deno compile` needs is missing and cannot be fetched. */
export class MissingRuntimeError extends Error {
  /** The target whose runtime is missing. */
  readonly target: string;

  constructor(message: string, target: string) {
    super(message);
    this.name = "MissingRuntimeError";
    this.target = target;
  }
}

const USAGE =
  `Usage: deno task build [--target TARGET]... [--all] [--release] [--out-dir DIR] [--dry-run]

  --target TARGET   build for TARGET (repeatable); default: this machine
  --all             build for every target: ${TARGETS.join(", ")}
  --release         every target (unless --target is given), each as hefur-TARGET, with
                    SHA256SUMS and the sandbox probes in probes/, as a release publishes them;
                    needs Deno ${DENO_VERSION}
  --out-dir DIR     where the executables go (default: dist)
  --dry-run         print the deno compile commands without running them

Environment:
  DENORT_BIN        a denort ${Deno.version.deno} executable for the target, used instead of the
                    runtime deno compile would download (one target per build)
`;

/**
 * Reads the command line of `build.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBuildArgs } from "./build.ts";
 * assert.deepEqual(parseBuildArgs(["--target", "aarch64-apple-darwin", "--dry-run"]), {
 *   targets: ["aarch64-apple-darwin"],
 *   dryRun: true,
 *   outDir: "dist",
 *   release: false,
 * });
 * ```
 */
export function parseBuildArgs(args: readonly string[]): BuildOptions {
  const options: BuildOptions = { targets: [], dryRun: false, outDir: "dist", release: false };
  const value = (i: number, name: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) {
      throw new BuildUsageError(`${name} needs a value`, name);
    }
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const [arg, inline] = args[i].startsWith("--") && args[i].includes("=")
      ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)]
      : [args[i], undefined];
    switch (arg) {
      case "--target": {
        const target = inline ?? value(i++, arg);
        if (!TARGETS.includes(target)) {
          throw new BuildUsageError(
            `unknown target "${target}"; Hefur is built for: ${TARGETS.join(", ")} ` +
              "(see src/platform.ts)",
            target,
          );
        }
        if (!options.targets.includes(target)) options.targets.push(target);
        break;
      }
      case "--all":
        options.targets = [...TARGETS];
        break;
      case "--out-dir":
        options.outDir = inline ?? value(i++, arg);
        break;
      case "--dry-run":
        options.dryRun = true;
        break;
      case "--release":
        options.release = true;
        break;
      default:
        throw new BuildUsageError(`unknown argument "${args[i]}"`, args[i]);
    }
  }
  return options;
}

/** The target of the Deno running this script, e.g. `x86_64-unknown-linux-gnu`. */
export function hostTarget(): string {
  return Deno.build.target;
}

/**
 * Path of the executable for `target`: `hefur` for this machine, `hefur-<target>` otherwise or
 * in a release (whose files are all named by their target).
 */
export function outputPath(outDir: string, target: string, release = false): string {
  return `${outDir}/${!release && target === hostTarget() ? "hefur" : `hefur-${target}`}`;
}

/** Path of the sandbox probe a release builds for `target`. */
export function probePath(outDir: string, target: string): string {
  return `${outDir}/probes/sandbox-probe-${target}`;
}

/**
 * The arguments of `deno compile` for one target: the sandbox, the page assets, the output, and
 * the commit baked in as the first program argument. `--target` is left out for this machine's
 * target, so a build without one works exactly like plain `deno compile`.
 */
export function compileArgs(
  target: string,
  commit: string,
  outDir: string,
  release = false,
): string[] {
  return [
    "compile",
    ...SANDBOX_FLAGS,
    ...V8_FLAGS,
    ...COMPILE_FLAGS,
    // The page assets, read through import.meta.url (src/pages/assets.ts): not modules, so not
    // found by deno compile unless included.
    "--include",
    "www",
    "--output",
    outputPath(outDir, target, release),
    ...(target === hostTarget() ? [] : ["--target", target]),
    ENTRY,
    `--build-commit=${commit}`,
  ];
}

/**
 * The arguments of `deno compile` for the sandbox probe of `target`: the same sandbox and V8
 * flags as Hefur's, so the probe finds on each system what the executable may and may not do.
 */
export function probeCompileArgs(target: string, outDir: string): string[] {
  return [
    "compile",
    ...SANDBOX_FLAGS,
    ...V8_FLAGS,
    ...COMPILE_FLAGS,
    "--output",
    probePath(outDir, target),
    ...(target === hostTarget() ? [] : ["--target", target]),
    PROBE_ENTRY,
  ];
}

/**
 * The text of `SHA256SUMS` for `files` (name → contents): one `<hex>  <name>` line each, sorted
 * by name, as `sha256sum -c` reads it.
 */
export function checksumsText(files: ReadonlyMap<string, Uint8Array>): string {
  return [...files.keys()].sort().map((name) =>
    `${createHash("sha256").update(files.get(name)!).digest("hex")}  ${name}\n`
  ).join("");
}

/**
 * The commit being built: `git rev-parse --short=12 HEAD`, with `-dirty` when tracked files
 * differ from it, or "unknown" outside a git checkout.
 */
export async function buildCommit(root: string): Promise<string> {
  const git = async (...args: string[]) => {
    try {
      const out = await new Deno.Command("git", {
        args,
        cwd: root,
        stdout: "piped",
        stderr: "null",
      })
        .output();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
    } catch {
      return undefined; // no git on this machine
    }
  };
  const head = await git("rev-parse", "--short=12", "HEAD");
  if (!head) return "unknown";
  const changes = await git("status", "--porcelain", "--untracked-files=no");
  return changes ? `${head}-dirty` : head;
}

/** Where `deno compile` caches the runtime of `target` it downloads (and looks for it first). */
export function cachedRuntimePath(denoDir: string, target: string): string {
  return `${denoDir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`;
}

/** Deno's cache directory (`DENO_DIR`), as `deno info` reports it. */
async function denoDir(root: string): Promise<string | undefined> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return undefined;
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/**
 * The explanation printed when the runtime of `target` is missing: what happened (`reason`) and
 * the two ways to fix it.
 */
export function missingRuntimeMessage(target: string, reason: string, cachePath: string): string {
  const v = Deno.version.deno;
  const again = `deno task build${target === hostTarget() ? "" : ` --target ${target}`}`;
  return [
    `build: cannot build Hefur for ${target}: the Deno runtime (denort ${v}) is missing and ` +
    "cannot be fetched.",
    `  ${reason}`,
    "",
    "deno compile joins the program to denort, the Deno runtime without its tooling. It takes the",
    "file DENORT_BIN names when set, else its cached copy, else downloads it from Deno's release",
    `server. To fix it, get denort-${target}.zip of the Deno ${v} release (from a machine that`,
    "can reach the release server) and either",
    "  - unzip it and set DENORT_BIN to the denort executable inside:",
    `      DENORT_BIN=/path/to/denort ${again}`,
    "  - or put the zip file, as it is, where deno compile looks before downloading:",
    `      ${cachePath}`,
    `The runtime must be of the Deno version that builds (${v}) and of the target's system.`,
    "The deno command cannot stand in for denort: a file built on it would act as deno.",
  ].join("\n");
}

/**
 * Recognises, in the (uncoloured) error output of a failed `deno compile`, a runtime that could
 * not be read or downloaded; returns the line that says why, or undefined for any other failure.
 */
export function runtimeFailure(stderr: string): string | undefined {
  // deno compile: "Could not find denort at '<path>'" for DENORT_BIN, "Setting up base binary."
  // followed by the download error otherwise.
  const lines = stderr.split("\n").map((l) => l.trim());
  const found = lines.find((l) => /Could not find denort at/.test(l));
  if (found) return found.replace(/^\d+:\s*/, "");
  const setup = lines.findIndex((l) => /Setting up base binary/.test(l));
  if (setup === -1) return undefined;
  const cause = lines.slice(setup + 1).find((l) => /^\d+:/.test(l));
  return cause ? cause.replace(/^\d+:\s*/, "") : "the download of denort failed";
}

/**
 * Checks `DENORT_BIN` before compiling, so a wrong value is explained rather than reported as a
 * failed build. Throws {@link MissingRuntimeError}.
 */
export function checkDenortBin(path: string, target: string, cachePath: string): void {
  let info;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw new MissingRuntimeError(
      missingRuntimeMessage(
        target,
        `DENORT_BIN is set to "${path}", but that file cannot be read (${(e as Error).message}).`,
        cachePath,
      ),
      target,
    );
  }
  if (!info.isFile) {
    throw new MissingRuntimeError(
      missingRuntimeMessage(
        target,
        `DENORT_BIN is set to "${path}", which is not a file.`,
        cachePath,
      ),
      target,
    );
  }
  if (Deno.realPathSync(path) === Deno.realPathSync(Deno.execPath())) {
    throw new MissingRuntimeError(
      missingRuntimeMessage(
        target,
        `DENORT_BIN is set to "${path}", which is the deno command itself, not denort.`,
        cachePath,
      ),
      target,
    );
  }
}

/** Runs `build.ts` with `args`; resolves with the exit code. */
export async function build(args: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseBuildArgs(args);
  } catch (e) {
    if (e instanceof BuildUsageError) {
      console.error(`build: ${e.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const root = new URL(".", import.meta.url).pathname;
  const targets = options.targets.length > 0
    ? options.targets
    : options.release
    ? [...TARGETS]
    : [hostTarget()];
  if (options.release && Deno.version.deno !== DENO_VERSION) {
    console.error(
      `build: a release is built with Deno ${DENO_VERSION} (src/platform.ts), ` +
        `not ${Deno.version.deno}: npx -y deno@${DENO_VERSION} task build --release`,
    );
    return EXIT_USAGE;
  }
  // An empty DENORT_BIN counts as unset (deno compile would look for a file named "").
  const denortBin = Deno.env.get("DENORT_BIN") || undefined;
  const env = Deno.env.toObject();
  if (!denortBin) delete env.DENORT_BIN;
  env.NO_COLOR = "1"; // plain error text for runtimeFailure()
  if (denortBin && targets.length > 1) {
    console.error(
      "build: DENORT_BIN is the runtime of one target; build one --target at a time with it.",
    );
    return EXIT_USAGE;
  }
  const commit = await buildCommit(root);
  const cacheDir = await denoDir(root) ?? "$DENO_DIR";

  if (options.dryRun) {
    for (const target of targets) {
      const cachePath = cachedRuntimePath(cacheDir, target);
      const runtime = denortBin
        ? `DENORT_BIN=${denortBin}`
        : existsFile(cachePath)
        ? `cached: ${cachePath}`
        : "to be downloaded by deno compile";
      const commands = [compileArgs(target, commit, options.outDir, options.release)];
      if (options.release) commands.push(probeCompileArgs(target, options.outDir));
      for (const compile of commands) {
        console.log(`deno ${compile.map(shellQuote).join(" ")}\n  # runtime: ${runtime}`);
      }
    }
    if (options.release) console.log(`# then ${options.outDir}/SHA256SUMS`);
    return 0;
  }

  const outDir = resolve(root, options.outDir);
  // Directories this build creates, removed again if it fails and leaves them empty.
  const created = [outDir, `${outDir}/probes`].filter((d) => !existsPath(d));
  const code = await compileAll(targets, commit, denortBin, env, cacheDir, options, root);
  if (code !== 0) {
    for (const dir of created.reverse()) {
      try {
        Deno.removeSync(dir); // only when empty: never what a user put there
      } catch {
        // not empty, or already gone
      }
    }
  }
  return code;
}

/** Compiles every target (and, for a release, its probe and the checksums); the exit code. */
async function compileAll(
  targets: readonly string[],
  commit: string,
  denortBin: string | undefined,
  env: Record<string, string>,
  cacheDir: string,
  options: BuildOptions,
  root: string,
): Promise<number> {
  const built = new Map<string, Uint8Array>();
  for (const target of targets) {
    const cachePath = cachedRuntimePath(cacheDir, target);
    try {
      if (denortBin) checkDenortBin(denortBin, target, cachePath);
    } catch (e) {
      if (e instanceof MissingRuntimeError) {
        console.error(e.message);
        return EXIT_NO_RUNTIME;
      }
      throw e;
    }
    const commands = [compileArgs(target, commit, options.outDir, options.release)];
    if (options.release) commands.push(probeCompileArgs(target, options.outDir));
    for (const compile of commands) {
      const output = compile[compile.indexOf("--output") + 1];
      Deno.mkdirSync(resolve(root, output, ".."), { recursive: true });
      const out = await new Deno.Command(Deno.execPath(), {
        args: compile,
        cwd: root,
        clearEnv: true,
        env,
        stdout: "inherit",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr).replace(PERMISSION_SET_NOTICE, "");
      if (!out.success) {
        const reason = runtimeFailure(stderr);
        if (reason !== undefined) {
          console.error(missingRuntimeMessage(target, reason, cachePath));
          return EXIT_NO_RUNTIME;
        }
        Deno.stderr.writeSync(new TextEncoder().encode(stderr));
        console.error(`build: deno compile failed for ${target} (exit code ${out.code})`);
        return 1;
      }
      Deno.stderr.writeSync(new TextEncoder().encode(stderr));
      console.error(`build: ${output} (commit ${commit})`);
    }
    if (options.release) {
      const path = outputPath(options.outDir, target, true);
      built.set(path.slice(path.lastIndexOf("/") + 1), Deno.readFileSync(resolve(root, path)));
    }
  }
  if (options.release) {
    const sums = `${options.outDir}/SHA256SUMS`;
    Deno.writeTextFileSync(resolve(root, sums), checksumsText(built));
    console.error(`build: ${sums}`);
  }
  return 0;
}

function existsPath(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Quotes `s` for a POSIX shell when it needs it, so a printed command can be pasted. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

if (import.meta.main) Deno.exit(await build(Deno.args));
