// --uid / --gid: resolution, and a real drop when the tests run as root (as here and in CI).
import assert from "node:assert/strict";
import { join } from "node:path";
import { PrivilegeError, resolveIdentity } from "../src/process/privileges.ts";
import {
  controlOnlyServeArgs,
  loopbackServeArgs,
  runCtl,
  runHefur,
  startServe,
  tempDir,
} from "./process_helpers.ts";

const passwd =
  "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const group = "root:x:0:\nnogroup:x:65534:\nweb:x:33:\n";

Deno.test("--uid and --gid resolve names and numbers independently", () => {
  assert.deepEqual(resolveIdentity("", "", passwd, group), {});
  assert.deepEqual(resolveIdentity("nobody", "", passwd, group), { uid: 65534, gid: 65534 });
  // Unlike the original, --gid is honoured when --uid is given too.
  assert.deepEqual(resolveIdentity("nobody", "web", passwd, group), { uid: 65534, gid: 33 });
  assert.deepEqual(resolveIdentity("1000", "1000", passwd, group), { uid: 1000, gid: 1000 });
  assert.throws(() => resolveIdentity("nobodyy", "", passwd, group), PrivilegeError);
  assert.throws(() => resolveIdentity("", "wheel", passwd, group), /--gid: no group "wheel"/);
});

/** Uid, Gid and Groups lines of a process. */
async function ids(pid: number): Promise<Record<string, string>> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Object.fromEntries(
    status.split("\n").filter((l) => /^(Uid|Gid|Groups):/.test(l)).map((l) => {
      const [k, v] = l.split(":");
      return [k, v.trim().replace(/\s+/g, " ")];
    }),
  );
}

/** A free TCP port below 1024, which only root can bind. */
function privilegedPort(): number {
  for (let port = 990; port > 900; port--) {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken */ }
  }
  throw new Error("no free port below 1024");
}

const root = Deno.uid() === 0;

Deno.test({
  name: "as root: binds a port below 1024, then runs as nobody:nogroup without extra groups",
  ignore: !root,
  async fn() {
    await using tmp = await tempDir();
    await Deno.chmod(tmp.path, 0o711); // nobody must reach its socket directory to remove it
    const socket = join(tmp.path, "run", "control");
    const port = privilegedPort();
    await using server = await startServe([
      ...loopbackServeArgs(port),
      "--control-socket",
      socket,
      "--uid",
      "nobody",
      "--gid",
      "nogroup",
    ], { prefix: ["setpriv", "--groups", "4,27", "--"] });
    assert.equal(server.ready.http, `127.0.0.1:${port}`);
    assert.deepEqual(await ids(server.pid), {
      Uid: "65534 65534 65534 65534",
      Gid: "65534 65534 65534 65534",
      Groups: "",
    });
    const info = await Deno.lstat(socket);
    assert.equal(info.uid, 65534);
    assert.equal((await Deno.lstat(join(tmp.path, "run"))).uid, 65534);
    const status = await runCtl(["--socket", socket, "status"]);
    assert.equal(status.code, 0, status.stderr);
    const quit = await runCtl(["--socket", socket, "quit"]);
    assert.equal(quit.code, 0, quit.stderr);
    assert.equal((await server.exited).code, 0, server.stderr());
    await assert.rejects(Deno.lstat(socket), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "as root: supplementary groups without --allow-ffi make the drop fail, never ignored",
  ignore: !root,
  async fn() {
    await using tmp = await tempDir();
    const out = await new Deno.Command("setpriv", {
      args: [
        "--groups",
        "4",
        "--",
        Deno.execPath(),
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        "--allow-sys",
        new URL("../src/main.ts", import.meta.url).pathname,
        "serve",
        ...controlOnlyServeArgs(join(tmp.path, "control")),
        "--uid",
        "nobody",
      ],
      stdin: "null",
      stdout: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /cannot drop privileges: .*supplementary groups \(4\).*--allow-ffi/);
    assert.doesNotMatch(stderr, /hefur: ready/);
    await assert.rejects(Deno.lstat(join(tmp.path, "control")), Deno.errors.NotFound);
  },
});

Deno.test("an unknown user is a usage error at start", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../src/main.ts", import.meta.url).pathname,
      "serve",
      "--uid",
      "no-such-user-x",
    ],
    stdin: "null",
    stdout: "null",
  }).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /--uid: no user "no-such-user-x"/);
});

Deno.test({
  name: "as root: a --state-file that only root could save stops start-up after the drop",
  ignore: !root,
  async fn() {
    await using tmp = await tempDir();
    await Deno.chmod(tmp.path, 0o755); // nobody can read in it, not write
    const stateFile = join(tmp.path, "state.json");
    const args = [
      ...loopbackServeArgs(0),
      "--control-socket",
      "",
      "--state-file",
      stateFile,
      "--uid",
      "nobody",
    ];
    const { code, stderr } = await runHefur(["serve", ...args]);
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      /--state-file: cannot write in .*; the state could never be saved \(checked again after becoming uid 65534, gid 65534\)/,
    );
    assert.doesNotMatch(stderr, /hefur: ready|cannot save/);

    // Handed over to nobody, the same directory works, and the state is saved there on stop.
    await Deno.chown(tmp.path, 65534, 65534);
    await using server = await startServe(args);
    server.kill("SIGTERM");
    assert.equal((await server.exited).code, 0, server.stderr());
    assert.equal((await Deno.stat(stateFile)).uid, 65534);
  },
});
