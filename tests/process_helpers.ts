// Helpers for tests that run `hefur serve` and `hefur ctl` as real processes.
import { join } from "node:path";
import { freePort } from "./helpers.ts";
import { type ServeProcess, spawnServe } from "./support/serve_process.ts";

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
const DENO_JSON = new URL("../deno.json", import.meta.url).pathname;
const decoder = new TextDecoder();

/** The environment of a shell that did not start Hefur through deno task: no INIT_CWD. */
export function withoutInitCwd(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return env;
}

/**
 * Starts `deno run <permissions> src/main.ts serve <args>` and waits (bounded) for its ready line,
 * as {@link spawnServe} does. `prefix` runs it under another program (e.g. `setpriv`). `taskFrom`
 * runs it instead as an operator would from that directory:
 * `deno task --config <repo>/deno.json start <args>`.
 */
export function startServe(
  args: string[],
  options: {
    permissions?: string[];
    prefix?: string[];
    env?: Record<string, string>;
    taskFrom?: string;
  } = {},
): Promise<ServeProcess> {
  const argv = options.taskFrom === undefined
    ? [
      ...(options.prefix ?? []),
      Deno.execPath(),
      "run",
      ...(options.permissions ?? ["-A"]),
      MAIN,
      "serve",
      ...args,
    ]
    : [Deno.execPath(), "task", "--config", DENO_JSON, "start", ...args];
  return spawnServe(
    new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      cwd: options.taskFrom,
      // As from an operator's shell: `deno task test` set INIT_CWD for this process, and deno task
      // keeps a value it finds.
      ...(options.taskFrom === undefined
        ? { env: options.env }
        : { clearEnv: true, env: { ...withoutInitCwd(), NO_COLOR: "1", ...options.env } }),
    }),
  );
}

/** Runs `hefur <args>` from source with every permission; resolves with its exit code and output. */
export async function runHefur(
  args: string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    env,
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs `hefur ctl <args>`; resolves with its exit code and output. */
export function runCtl(
  args: string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runHefur(["ctl", ...args], env);
}

/** Waits (bounded) until `check()` holds. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A temporary directory removed at the end of its `await using` block. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir();
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/**
 * Arguments for a `hefur serve` with no HTTP or UDP listener (port 0 turns them off) whose only
 * way in is the control socket at `socket` (none when empty): enough for tests of `hefur ctl`,
 * signals and start-up checks, and nothing reachable from the network.
 */
export function controlOnlyServeArgs(socket: string): string[] {
  return ["--http-port", "0", "--udp-port", "0", "--control-socket", socket];
}

/** {@link controlOnlyServeArgs} without a control socket: for tests of how start-up rejects an option. */
export const BARE_SERVE_ARGS: readonly string[] = controlOnlyServeArgs("");

/**
 * `--bind-addr 127.0.0.1 --http-port <httpPort> --udp-port <udpPort>`: where a process test's
 * `hefur serve` listens (UDP on an ephemeral port unless told).
 */
export function loopbackServeArgs(httpPort: number, udpPort = 0): string[] {
  return [
    "--bind-addr",
    "127.0.0.1",
    "--http-port",
    String(httpPort),
    "--udp-port",
    String(udpPort),
  ];
}

/** A whitelist-mode `hefur serve` with a control socket, as `startTrackerWithCtl` makes it. */
export interface CtlServeProcess extends ServeProcess {
  /** The whitelisted torrent directory (empty at start). */
  torrents: string;
  /** The control socket path. */
  socket: string;
  /** Runs `hefur ctl --socket <socket> <args>`. */
  ctl(...args: string[]): ReturnType<typeof runCtl>;
}

/**
 * Starts `hefur serve` on 127.0.0.1 (free HTTP port, ephemeral UDP) whitelisting `<dir>/torrents`,
 * with its control socket at `<dir>/control`, plus `extra` arguments: the set-up every test that
 * drives a live tracker with `hefur ctl` shares.
 */
export async function startTrackerWithCtl(
  dir: string,
  extra: string[] = [],
): Promise<CtlServeProcess> {
  const torrents = join(dir, "torrents");
  await Deno.mkdir(torrents);
  const socket = join(dir, "control");
  const server = await startServe([
    ...loopbackServeArgs(freePort()),
    "--control-socket",
    socket,
    "--torrent-dir",
    torrents,
    ...extra,
  ]);
  const ctl = (...args: string[]) => runCtl(["--socket", socket, ...args]);
  return Object.assign(server, { torrents, socket, ctl });
}
