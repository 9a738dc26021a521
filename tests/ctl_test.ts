// `hefur ctl` as a real process against a live `hefur serve`: every command and its error paths.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../src/protocol/bencode.ts";
import { parseMetainfo } from "../src/protocol/metainfo.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import { getBencoded, pct, text } from "./helpers.ts";
import {
  controlOnlyServeArgs,
  eventually,
  runCtl,
  startServe,
  startTrackerWithCtl,
  tempDir,
  withoutInitCwd,
} from "./process_helpers.ts";
import { normalizeCtlArgs } from "../src/cli/ctl.ts";

function torrent(name: string): Uint8Array {
  return encode({
    info: { name, length: 3, "piece length": 16384, pieces: new Uint8Array(20) },
  });
}

Deno.test("ctl: usage errors exit 2 without contacting anyone", async () => {
  for (
    const args of [[], ["dance"], ["--timeout", "soon", "status"], ["release-torrent"], [
      "status",
      "--bogus",
    ]]
  ) {
    const r = await runCtl(["--socket", "/nonexistent/control", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /hefur ctl|Usage/);
  }
  const help = await runCtl(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /release-torrent/);
  assert.match(help.stdout, /Exit codes: 0 ok, 1 a command failed, 2 usage error, 3 server/);
});

Deno.test("ctl: no server, a stale socket and a silent server are clear errors (exit 3)", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const missing = await runCtl(["--socket", join(dir, "none"), "status"]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /cannot reach the server: .*none: no such socket/);

  const stale = join(dir, "stale");
  const l = Deno.listen({ transport: "unix", path: stale });
  await Deno.rename(stale, stale + ".x"); // keep the file when the listener closes
  l.close();
  await Deno.rename(stale + ".x", stale);
  const refused = await runCtl(["--socket", stale, "--json", "status"]);
  assert.equal(refused.code, 3);
  assert.equal(JSON.parse(refused.stdout).code, "unreachable");
  assert.match(JSON.parse(refused.stdout).error, /nothing listens there/);

  // A server that accepts and never answers: the client gives up after --timeout.
  const silentPath = join(dir, "silent");
  const silent = Deno.listen({ transport: "unix", path: silentPath });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })();
  try {
    const started = Date.now();
    const r = await runCtl(["--socket", silentPath, "--timeout", "0.5", "status"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^hefur ctl: status: no answer from .* within 500 ms/);
    assert.doesNotMatch(r.stderr, /status: status:/);
    assert.ok(Date.now() - started < 15_000);
  } finally {
    silent.close();
    await accepting;
    for (const c of held) c.close();
  }
});

Deno.test("ctl: a malformed answer is a clear error (exit 3), never a crash", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.path, "fake");
  const listener = Deno.listen({ transport: "unix", path });
  let answer = "";
  // A fake server: reads one request line, answers whatever the test chose.
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(4096);
      await conn.read(buf).catch(() => null);
      await conn.write(new TextEncoder().encode(answer)).catch(() => {});
      conn.close();
    }
  })();
  // Each case in text; the first two with --json as well.
  const cases: [string, string[], RegExp][] = [
    ["garbage\n", ["status"], /not a control response \(the server's answer is not JSON\)/],
    ['{"v":1,"id":1,"ok":true}\n', ["status"], /not what status returns/],
    ['{"ok":true}\n', ["status"], /not a control response \(answer for request undefined/],
    ['{"v":1,"id":1,"ok":true,"result":{}}\n', ["status"], /not what status returns/],
    ['{"v":1,"id":1,"ok":true,"result":{"x":1}}\n', ["metrics"], /not what metrics returns/],
    ['{"ok":false}\n', ["status"], /not a control response .*no code or message/],
    ["[1,2]\n", ["status"], /not a control response/],
    ['{"v":1,"id":7,"ok":true,"result":{}}\n', ["status"], /answer for request 7, expected 1/],
  ];
  try {
    for (const [i, [reply, args, message]] of cases.entries()) {
      answer = reply;
      for (const json of i < 2 ? [false, true] : [false]) {
        const r = await runCtl(["--socket", path, ...(json ? ["--json"] : []), ...args]);
        const what = `${JSON.stringify(reply)}${json ? " --json" : ""}: ${r.stderr}`;
        assert.equal(r.code, 3, what);
        assert.doesNotMatch(r.stderr, /TypeError|^\s+at /m, what);
        assert.match(json ? JSON.parse(r.stdout).error : r.stderr, message, what);
      }
    }
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("ctl: a file that leads into a denied path is not read", async () => {
  await using tmp = await tempDir();
  await Deno.symlink("/etc/shadow", join(tmp.path, "shadow.torrent"));
  const r = await runCtl([
    "--socket",
    join(tmp.path, "none"),
    "release-torrent",
    join(tmp.path, "shadow.torrent"),
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /shadow\.torrent: it leads to \/etc\/shadow, which is under \/etc\/shadow, denied/,
  );
});

Deno.test("ctl: every command against a live open-mode server", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const socket = join(dir, "run", "control");
  await using server = await startServe([
    ...controlOnlyServeArgs(socket),
  ]);
  assert.equal(server.ready.control, socket);
  assert.equal(server.ready.pid, String(server.pid));

  const status = await runCtl(["--socket", socket, "status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^hefur \\S+ \\(pid ${server.pid}\\), up \\d+s`));
  assert.match(status.stdout, /mode: +open \(any torrent\)/);
  assert.match(status.stdout, /torrents: +0/);

  const json = await runCtl(["--socket", socket, "--json", "status"]);
  assert.equal(json.code, 0);
  const s = JSON.parse(json.stdout);
  assert.equal(s.ok, true);
  assert.equal(s.result.pid, server.pid);
  assert.deepEqual(s.result.requests, {
    announces: 0,
    scrapes: 0,
    refused: 0,
    failures: 0,
    webtorrent: { announces: 0, scrapes: 0, failures: 0 },
  });

  // The default socket path comes from the environment, as for the server.
  const byEnv = await runCtl(["status"], { HEFUR_CONTROL_SOCKET: socket });
  assert.equal(byEnv.code, 0, byEnv.stderr);

  const file = join(dir, "a.torrent");
  await Deno.writeFile(file, torrent("a"));
  const release = await runCtl(["--socket", socket, "release-torrent", file]);
  assert.equal(release.code, 1);
  assert.match(release.stderr, /release-torrent .*a\.torrent: this server has no --torrent-dir/);

  const unreadable = await runCtl(["--socket", socket, "release-torrent", join(dir, "no.torrent")]);
  assert.equal(unreadable.code, 1);
  assert.match(unreadable.stderr, /cannot read .*no\.torrent/);

  const unknown = await runCtl(["--socket", socket, "--json", "retire-torrent", "ab".repeat(20)]);
  assert.equal(unknown.code, 1);
  assert.deepEqual(JSON.parse(unknown.stdout), {
    cmd: "retire-torrent",
    subject: "ab".repeat(20),
    ok: false,
    code: "not_found",
    error: `no tracked torrent has info hash ${"ab".repeat(20)}`,
  });
  const notHash = await runCtl(["--socket", socket, "retire-torrent", "xyz"]);
  assert.equal(notHash.code, 1);
  assert.match(notHash.stderr, /cannot read xyz.*nor is it a 40 or 64 digit info hash/);

  const logs = await runCtl(["--socket", socket, "release-logs"]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /logs released/);

  const quit = await runCtl(["--socket", socket, "quit"]);
  assert.equal(quit.code, 0, quit.stderr);
  assert.match(quit.stdout, /the server is stopping/);
  const exit = await server.exited;
  assert.equal(exit.code, 0, server.stderr());
  await eventually(async () => {
    try {
      await Deno.lstat(socket);
      return false;
    } catch {
      return true;
    }
  });
  const after = await runCtl(["--socket", socket, "status"]);
  assert.equal(after.code, 3);
});

Deno.test("ctl: release-torrent and retire-torrent against a live whitelist server", async () => {
  await using tmp = await tempDir();
  await using server = await startTrackerWithCtl(tmp.path);
  const { torrents, socket } = server;
  const announce = async (hash: string) => {
    const url = `http://${server.ready.http}/announce?info_hash=${pct(hash)}` +
      `&peer_id=${"p".repeat(20)}&port=6881&left=0&compact=1`;
    const reply = await getBencoded(url);
    return reply.has("failure reason") ? text(reply.get("failure reason")) : "ok";
  };
  const a = join(tmp.path, "a.torrent");
  await Deno.writeFile(a, torrent("release A"));
  const hashA = parseMetainfo(torrent("release A")).infoHashV1!;
  assert.equal(await announce(hashA), "torrent not found");

  const released = await runCtl(["--socket", socket, "release-torrent", a]);
  assert.equal(released.code, 0, released.stderr);
  assert.match(released.stdout, /^released release A\n/);
  assert.match(released.stdout, new RegExp(`file: +${join(torrents, "release A.torrent")}`));
  assert.match(released.stdout, new RegExp(`v1 info hash: ${binaryToHex(hashA)}`));
  assert.match(
    released.stdout,
    new RegExp(`magnet: magnet:\\?xt=urn:btih:${binaryToHex(hashA)}&dn=release%20A`),
  );
  assert.deepEqual(await Deno.readFile(join(torrents, "release A.torrent")), torrent("release A"));
  assert.equal(await announce(hashA), "ok", "tracked as soon as ctl returns");

  const duplicate = await runCtl(["--socket", socket, "release-torrent", a]);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /a\.torrent: already tracked: [0-9a-f]{40} \(release A\) from /);

  const bad = join(tmp.path, "bad.torrent");
  await Deno.writeTextFile(bad, "this is not bencode");
  const b = join(tmp.path, "b.torrent");
  await Deno.writeFile(b, torrent("release B"));
  const mixed = await runCtl(["--socket", socket, "--json", "release-torrent", bad, b]);
  assert.equal(mixed.code, 1, "one of the files failed");
  const [badResult, goodResult] = mixed.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(badResult.ok, false);
  assert.equal(badResult.code, "invalid_torrent");
  assert.match(badResult.error, /not a valid \.torrent/);
  assert.equal(goodResult.ok, true);
  assert.equal(goodResult.subject, b);
  assert.match(goodResult.result.magnet, /^magnet:\?xt=urn:btih:[0-9a-f]{40}&dn=release%20B$/);

  const retired = await runCtl(["--socket", socket, "retire-torrent", a]);
  assert.equal(retired.code, 0, retired.stderr);
  assert.match(retired.stdout, new RegExp(`retired release A: ${binaryToHex(hashA)}`));
  assert.match(retired.stdout, /removed .*release A\.torrent/);
  await assert.rejects(Deno.stat(join(torrents, "release A.torrent")), Deno.errors.NotFound);
  assert.equal(await announce(hashA), "torrent not found");

  const again = await runCtl(["--socket", socket, "retire-torrent", binaryToHex(hashA)]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no tracked torrent has info hash/);

  const status = await runCtl(["--socket", socket, "--json", "status"]);
  const s = JSON.parse(status.stdout).result;
  assert.equal(s.mode, "whitelist");
  assert.equal(s.torrents, 1);
  assert.deepEqual(s.whitelist, { files: 1, hashes: 1 });
  assert.ok(s.requests.announces >= 3);

  server.kill("SIGTERM");
  assert.equal((await server.exited).code, 0, server.stderr());
});

Deno.test("ctl: the original's spelling, -socket PATH -release-logs -quit", async () => {
  assert.deepEqual(normalizeCtlArgs(["-socket=/s", "-json", "-timeout", "2", "status"]), {
    args: ["--socket=/s", "--json", "--timeout", "2", "status"],
    actions: [],
    command: true,
  });
  // A value is never read as an option, and nothing after the command is rewritten.
  assert.deepEqual(normalizeCtlArgs(["-socket", "-quit", "retire-torrent", "-socket"]).args, [
    "--socket",
    "-quit",
    "retire-torrent",
    "-socket",
  ]);

  await using tmp = await tempDir();
  const socket = join(tmp.path, "control");
  await using server = await startServe([
    ...controlOnlyServeArgs(socket),
  ]);
  const status = await runCtl(["-socket", socket, "-json", "status"]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).result.pid, server.pid);

  const mixed = await runCtl(["-socket", socket, "-quit", "status"]);
  assert.equal(mixed.code, 2);
  assert.match(mixed.stderr, /-quit \(the original's spelling\) cannot go with a command/);

  // Both actions, in the original's order whatever the order given.
  const both = await runCtl(["-quit", "-socket", socket, "-release-logs"]);
  assert.equal(both.code, 0, both.stderr);
  assert.match(both.stdout, /logs released[^]*the server is stopping/);
  assert.equal((await server.exited).code, 0, server.stderr());
});

Deno.test("ctl through deno task: relative paths are the caller's, not the project's", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await using server = await startTrackerWithCtl(dir);
  await Deno.writeFile(join(dir, "here.torrent"), torrent("here"));
  // Run from `dir`, as an operator in that directory would; deno task runs the task in the
  // project's directory and says where it was called from in INIT_CWD.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      "hefur",
      "ctl",
      "--socket",
      "control",
      "release-torrent",
      "here.torrent",
    ],
    cwd: dir,
    // As from an operator's shell: `deno task test` set INIT_CWD for this process, and deno task
    // keeps a value it finds (a task run by a task keeps its first caller's directory).
    clearEnv: true,
    env: { ...withoutInitCwd(), NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const stdout = new TextDecoder().decode(out.stdout);
  assert.match(stdout, /^released here/m, stdout + stderr);
  assert.ok(server.socket.startsWith(dir));
});
