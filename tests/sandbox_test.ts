// The permission sandbox: Hefur run from source with exactly the flags the executable is built
// with (build.ts's SANDBOX_FLAGS, the permission set `hefur` of deno.json) does everything it is
// for, and what the sandbox forbids is refused.
import assert from "node:assert/strict";
import { ENTRY, SANDBOX_FLAGS } from "../build.ts";
import denoJson from "../deno.json" with { type: "json" };
import { freePort } from "./helpers.ts";
import { announceUrl, spawnServe } from "./serve_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

/** `deno run <sandbox flags> <script> <args>` from the project root, where deno.json is. */
function sandboxed(script: string, args: string[], flags: readonly string[] = SANDBOX_FLAGS) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** `hefur <args>` in the sandbox, run to the end. */
async function hefur(...args: string[]) {
  const out = await sandboxed(ENTRY, args).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Fails with what the sandbox refused, when a run stopped on a missing permission. */
function assertNotRefused(stderr: string) {
  assert.doesNotMatch(stderr, /NotCapable|Requires \w+ access/, stderr);
}

Deno.test("the deno.json tasks run Hefur with the same sandbox flags as the executable", () => {
  const run = `deno run ${SANDBOX_FLAGS.join(" ")} ${ENTRY}`;
  assert.equal(denoJson.tasks.hefur, run);
  assert.equal(denoJson.tasks.start, `${run} serve`);
});

Deno.test("--version, help and usage errors work in the sandbox", async () => {
  const version = await hefur("--version");
  assertNotRefused(version.stderr);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^hefur \d+\.\d+\.\d+ \(commit unknown\)/);

  // The baked argument of the executable, given by hand.
  const baked = await hefur("--build-commit=0123456789ab", "--version");
  assert.match(baked.stdout, /\(commit 0123456789ab\)/);

  const help = await hefur("serve", "--help");
  assertNotRefused(help.stderr);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--torrent-dir/);

  const bad = await hefur("serve", "--no-such-option");
  assertNotRefused(bad.stderr);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option '--no-such-option'/);

  const origins = await hefur("serve", "--log-origins");
  assertNotRefused(origins.stderr);
  assert.equal(origins.code, 0);
});

Deno.test("serve answers announces, writes its log file and stops on SIGTERM, in the sandbox", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-sandbox-" });
  try {
    const port = freePort();
    const server = await spawnServe(sandboxed(ENTRY, [
      "serve",
      "--bind-addr",
      "127.0.0.1",
      "--http-port",
      String(port),
      "--udp-port",
      "0",
      "--log-level",
      "info",
      "--log-file",
      `${dir}/logs/hefur-%Y.log`,
    ]));
    let stopped;
    try {
      assert.match(server.ready, new RegExp(`http=127\\.0\\.0\\.1:${port}`));
      const reply = await fetch(announceUrl(port));
      const body = decoder.decode(await reply.bytes());
      assert.equal(reply.status, 200);
      assert.match(body, /^d.*8:intervali\d+e/, body);
    } finally {
      stopped = await server.stop();
    }
    assertNotRefused(stopped.stderr);
    assert.equal(stopped.code, 0, stopped.stderr);

    const [log] = await Array.fromAsync(Deno.readDir(`${dir}/logs`));
    assert.ok(log, "no log file was written");
    const text = await Deno.readTextFile(`${dir}/logs/${log.name}`);
    assert.match(text, /tracking open mode/);
    assert.match(text, /SIGTERM/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the sandbox refuses programs, native code, secrets, system files, other variables and remote code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.txt`, "x");
    const probe = async (flags: readonly string[], scope: string[]) => {
      const out = await sandboxed("tests/fixtures/sandbox_probe.ts", [dir, ...scope], flags)
        .output();
      assert.equal(out.code, 0, decoder.decode(out.stderr));
      return JSON.parse(decoder.decode(out.stdout)) as Record<string, string>;
    };
    const sandbox = await probe(SANDBOX_FLAGS, []);

    const allowed = [
      "read scratch file",
      "write scratch file",
      "listen tcp 127.0.0.1",
      "read /etc/passwd",
    ];
    const refused = [
      "run a program",
      "load a native library (FFI)",
      "read /etc/shadow",
      "read /etc/ssh",
      "read /root/.ssh",
      "read /proc/self/environ",
      "read /proc/1/cmdline",
      "write /etc/passwd",
      "write /usr/local/bin",
      "write /root/.ssh/authorized_keys",
      "env HOME",
      "env PATH",
      "all env",
      "sys hostname",
      "sys network interfaces",
      "import remote module",
      "import npm package outside deno.lock",
      "fetch cloud metadata",
      "connect cloud metadata",
    ];
    assert.deepEqual(Object.keys(sandbox).sort(), [...allowed, ...refused].sort());
    for (const check of allowed) assert.equal(sandbox[check], "allowed", check);
    for (const check of refused) assert.equal(sandbox[check], "refused", check);

    // Control: without the sandbox no local check is "refused" (the system may still say no to a
    // user other than root, but that is another error), so the refusals above are the sandbox's.
    const open = await probe(["--allow-all"], ["local"]);
    assert.ok(Object.keys(open).length > 15);
    for (const [check, outcome] of Object.entries(open)) assert.notEqual(outcome, "refused", check);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
