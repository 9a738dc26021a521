// Shared by the libtorrent end-to-end tests: runs tests/e2e/lt_swarm.py against an announce URL.

/** Debian's python3 with python3-libtorrent (not a pyenv python3 that may come first on PATH). */
export const PYTHON = "/usr/bin/python3";

/** True when python3-libtorrent can be imported; the end-to-end tests are ignored otherwise. */
export const hasLibtorrent = await new Deno.Command(PYTHON, {
  args: ["-c", "import libtorrent"],
  stderr: "null",
})
  .output().then((o) => o.success).catch(() => false);

/** Options of {@link runSwarm}. */
export interface SwarmOptions {
  /** The leecher announces here instead (the seeder keeps `announce`). */
  leechAnnounce?: string;
  /**
   * Called once the leecher has the bytes, while both peers still run; they stop when it
   * resolves.
   */
  whileHolding?: () => Promise<void>;
}

/**
 * Runs a libtorrent seeder and leecher (tests/e2e/lt_swarm.py) through the tracker at `announce`,
 * both listening on `bind`; returns whether the leecher got the seed's bytes, and the output.
 */
export async function runSwarm(announce: string, bind = "127.0.0.1", options: SwarmOptions = {}) {
  const work = await Deno.makeTempDir({ prefix: "hefur-lt-" });
  const args = [
    new URL("./lt_swarm.py", import.meta.url).pathname,
    announce,
    work,
    "--bind",
    bind,
    "--timeout",
    "60",
  ];
  if (options.leechAnnounce !== undefined) args.push("--leech-announce", options.leechAnnounce);
  if (options.whileHolding !== undefined) args.push("--hold");
  try {
    const child = new Deno.Command(PYTHON, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let stdout = "";
    let held: unknown;
    const lines = child.stdout.pipeThrough(new TextDecoderStream());
    let holding = false;
    for await (const chunk of lines) {
      stdout += chunk;
      if (!holding && options.whileHolding !== undefined && /^HOLDING$/m.test(stdout)) {
        holding = true;
        try {
          await options.whileHolding();
        } catch (e) {
          held = e;
        }
        await child.stdin.close();
      }
    }
    if (!holding) await child.stdin.close();
    const status = await child.status;
    if (held !== undefined) throw held;
    return { ok: status.success, log: stdout + (await stderr) };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
