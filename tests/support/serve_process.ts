// Hefur in a process of its own: run from source with the sandbox flags of the executable, or the
// compiled executable; `hefur serve` started, waited for, stopped with SIGTERM.
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

/** A running `hefur serve` process. */
export interface ServeProcess {
  /** The line `hefur: ready pid=… http=…` it printed once its listeners were bound. */
  readonly ready: string;
  /** Sends SIGTERM; resolves with the exit code and everything written to standard error. */
  stop(): Promise<{ code: number; stderr: string }>;
  /** Resolves when the process ends by itself (e.g. on `hefur ctl quit`), as {@link stop} does. */
  readonly exited: Promise<{ code: number; stderr: string }>;
}

/**
 * Spawns `command` (which runs `hefur serve …`) and resolves once it printed its ready line, or
 * rejects (after stopping it) when it ends first or is not ready within 20 s.
 */
export async function spawnServe(command: Deno.Command): Promise<ServeProcess> {
  const child = command.spawn();
  let stderr = "";
  const { promise: readyLine, resolve: onReady, reject: onEnd } = Promise.withResolvers<string>();
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      const line = stderr.match(/^hefur: ready .*$/m);
      if (line) onReady(line[0]);
    }
    onEnd(new Error(`hefur serve ended before it was ready:\n${stderr}`));
  })();
  const stdout = child.stdout.cancel();
  const timer = setTimeout(() => onEnd(new Error(`no ready line in 20 s:\n${stderr}`)), 20_000);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // it has ended already
    }
    const status = await child.status;
    await drained;
    await stdout;
    return { code: status.code, stderr };
  };
  const exited = child.status.then(async (status) => {
    await drained;
    await stdout;
    return { code: status.code, stderr };
  });
  try {
    return { ready: await readyLine, stop, exited };
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
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
