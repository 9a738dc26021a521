// Shared by the libtorrent end-to-end tests: runs tests/e2e/lt_swarm.py against an announce URL.

/** Debian's python3 with python3-libtorrent (not a pyenv python3 that may come first on PATH). */
export const PYTHON = "/usr/bin/python3";

/** True when python3-libtorrent can be imported; the end-to-end tests are ignored otherwise. */
export const hasLibtorrent = await new Deno.Command(PYTHON, {
  args: ["-c", "import libtorrent"],
  stderr: "null",
})
  .output().then((o) => o.success).catch(() => false);

/**
 * Runs a libtorrent seeder and leecher (tests/e2e/lt_swarm.py) through the tracker at `announce`,
 * both listening on `bind`; returns whether the leecher got the seed's bytes, and the output.
 */
export async function runSwarm(announce: string, bind = "127.0.0.1") {
  const work = await Deno.makeTempDir({ prefix: "hefur-lt-" });
  try {
    const out = await new Deno.Command(PYTHON, {
      args: [
        new URL("./lt_swarm.py", import.meta.url).pathname,
        announce,
        work,
        "--bind",
        bind,
        "--timeout",
        "60",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      ok: out.success,
      log: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
