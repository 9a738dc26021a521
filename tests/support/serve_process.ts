// Hefur in a process of its own: run from source with the sandbox flags of the executable, or the
// compiled executable; `hefur serve` started, waited for, stopped with SIGTERM or killed. Every test
// that runs the server as a process starts it with spawnServe (tests/process_helpers.ts's
// startServe builds the usual command for it).
import { RUN_FLAGS, SANDBOX_FLAGS } from "../../build.ts";

/** The project root, where deno.json (and so the permission set) is found. */
export const ROOT = new URL("../..", import.meta.url).pathname;

/**
 * `deno run <task flags> <sandbox flags> <script> <args>` from the project root (as the `start`
 * and `hefur` tasks run it), with `env` added to the environment.
 */
export function sandboxed(
  script: string,
  args: string[],
  options: { flags?: readonly string[]; env?: Record<string, string> } = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_FLAGS, ...(options.flags ?? SANDBOX_FLAGS), script, ...args],
    cwd: ROOT,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * How a `hefur serve` process ended: its exit code, the signal that ended it (null when it exited by
 * itself) and everything it wrote to standard error.
 */
export interface ServeExit {
  code: number;
  signal: Deno.Signal | null;
  stderr: string;
}

/**
 * A running `hefur serve` process that has printed its ready line. `await using` it to be sure it
 * is gone at the end of the block, whatever the test did: the disposer kills it (SIGKILL).
 */
export interface ServeProcess extends AsyncDisposable {
  /** The id of the spawned process (Hefur itself, unless run through `deno task`). */
  readonly pid: number;
  /** The line `hefur: ready pid=… http=…` it printed once its listeners were bound. */
  readonly readyLine: string;
  /** The fields of the ready line by name: pid, http, udp, control, metrics (those it has). */
  readonly ready: Record<string, string>;
  /** Standard error so far. */
  stderr(): string;
  /** Sends `signal` to the spawned process; throws when it has ended. */
  kill(signal: Deno.Signal): void;
  /** Stops it gracefully: sends SIGTERM (unless it has ended) and resolves as {@link exited}. */
  stop(): Promise<ServeExit>;
  /** Resolves once the process has ended (by itself or by a signal) and its standard error is read. */
  readonly exited: Promise<ServeExit>;
}

/** How long a `hefur serve` has to print its ready line. */
const READY_WITHIN_MS = 30_000;

/**
 * Spawns `command` (which runs `hefur serve …` with its standard error piped; standard output,
 * piped or not, is not read) and resolves once it printed its ready line, or rejects (after
 * killing it) when it ends first or is not ready within 30 s.
 */
export async function spawnServe(command: Deno.Command): Promise<ServeProcess> {
  const child = command.spawn();
  let stderr = "";
  const { promise: readyLine, resolve: onReady, reject: onEnd } = Promise.withResolvers<string>();
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      // The whole line: a chunk may end in the middle of it.
      const line = /^hefur: ready .*(?=\n)/m.exec(stderr);
      if (line) onReady(line[0]);
    }
    onEnd(new Error(`hefur serve ended before it was ready:\n${stderr}`));
  })();
  const stdout = discardStdout(child);
  const exited = Promise.all([child.status, drained, stdout])
    .then(([{ code, signal }]) => ({ code, signal, stderr }));
  const timer = setTimeout(
    () => onEnd(new Error(`no ready line in ${READY_WITHIN_MS / 1000} s:\n${stderr}`)),
    READY_WITHIN_MS,
  );
  let ready: Record<string, string> = {};
  const dispose = async () => {
    unlessEnded(() => child.kill("SIGKILL"));
    // Through deno task, the server is a child of the task runner: killed by its own pid too.
    const server = Number(ready.pid);
    if (Number.isInteger(server) && server > 0 && server !== child.pid) {
      unlessEnded(() => Deno.kill(server, "SIGKILL"));
    }
    await exited;
  };
  try {
    const line = await readyLine;
    ready = readyFields(line);
    assertLoopback(ready);
    return {
      pid: child.pid,
      readyLine: line,
      ready,
      stderr: () => stderr,
      kill: (signal) => child.kill(signal),
      stop() {
        unlessEnded(() => child.kill("SIGTERM"));
        return exited;
      },
      exited,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `send`, which signals a process, and ignores that the process has ended already. */
function unlessEnded(send: () => void): void {
  try {
    send();
  } catch {
    // it has ended already
  }
}

/**
 * Throws unless every listener in the ready line's fields is on a loopback address: a server under
 * test must never be reachable from the network.
 */
function assertLoopback(ready: Record<string, string>): void {
  for (const name of ["http", "https", "udp", "ws", "metrics"]) {
    const at = ready[name];
    if (at !== undefined && !/^(127\.0\.0\.1|\[::1\]):\d+$/.test(at)) {
      throw new Error(`a server under test listens on ${at} (${name}): use --bind-addr 127.0.0.1`);
    }
  }
}

/** The `name=value` fields after `hefur: ready ` in `line`, by name. */
function readyFields(line: string): Record<string, string> {
  return Object.fromEntries(
    line.slice("hefur: ready ".length).split(" ").map((field) => {
      const eq = field.indexOf("=");
      return [field.slice(0, eq), field.slice(eq + 1)];
    }),
  );
}

/** Closes the child's standard output when it is piped (nothing is expected there). */
function discardStdout(child: Deno.ChildProcess): Promise<void> {
  let stdout: ReadableStream<Uint8Array>;
  try {
    stdout = child.stdout;
  } catch {
    return Promise.resolve(); // not piped: nothing to close
  }
  return stdout.cancel();
}

/**
 * An HTTP announce URL for a seeder of `infoHash` (20 bytes as a binary string) at `port` on
 * 127.0.0.1.
 */
export function announceUrl(port: number, infoHash = "\x01".repeat(20)): string {
  const hash = [...infoHash].map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"))
    .join("");
  const peer = "-HF0001-" + "%02".repeat(12);
  return `http://127.0.0.1:${port}/announce?info_hash=${hash}&peer_id=${peer}` +
    "&port=6881&uploaded=0&downloaded=0&left=0&compact=1&event=started";
}
