// Start-up refusals of `hefur serve`, run as `deno task start` runs it (the sandbox's flags): a
// mistake in the configuration stops it at once with one line that says what to do.
import assert from "node:assert/strict";
import { ENTRY } from "../build.ts";
import { freePort, startTestHefur } from "./helpers.ts";
import { makeTorrent } from "./support/torrents.ts";
import { announceUrl, sandboxed, spawnServe } from "./support/serve_process.ts";

const decoder = new TextDecoder();

/** The command `hefur serve <args>` on loopback, without control socket. */
function serveCommand(...args: string[]): Deno.Command {
  return sandboxed(ENTRY, ["serve", "--bind-addr", "127.0.0.1", "--control-socket", "", ...args]);
}

/** `hefur serve <args>` on loopback, without control socket, run to the end. */
async function serve(...args: string[]) {
  const out = await serveCommand(...args).output();
  return { code: out.code, stderr: decoder.decode(out.stderr) };
}

/** Asserts a refusal: a non-zero exit, and one line (with the log's time stamp, if any) matching. */
function refused(run: { code: number; stderr: string }, message: RegExp) {
  assert.notEqual(run.code, 0, run.stderr);
  assert.equal(run.code, 1, run.stderr);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], message);
  // Not Deno's advice, which names flags `hefur` does not have.
  assert.doesNotMatch(run.stderr, /run again with|--allow-/);
}

Deno.test("a --torrent-dir that does not exist stops start-up, unless it may appear later", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-startup-" });
  try {
    refused(
      await serve("--http-port", "0", "--udp-port", "0", "--torrent-dir", `${dir}/torrnets`),
      /^hefur serve: --torrent-dir: .*torrnets does not exist; .*--torrent-dir-may-be-missing/,
    );
    await Deno.writeTextFile(`${dir}/file`, "");
    refused(
      await serve("--http-port", "0", "--udp-port", "0", "--torrent-dir", `${dir}/file`),
      /--torrent-dir: .*file is not a directory/,
    );
    const server = await spawnServe(serveCommand(
      "--http-port",
      "0",
      "--udp-port",
      "0",
      "--torrent-dir",
      `${dir}/later`,
      "--torrent-dir-may-be-missing",
    ));
    assert.match(server.readyLine, /^hefur: ready /);
    assert.equal((await server.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a --state-file, --log-file or --audit-log that cannot be written stops start-up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-startup-" });
  try {
    const off = ["--http-port", "0", "--udp-port", "0"];
    refused(
      await serve(...off, "--state-file", `${dir}/missing/state.jsonl`),
      /^hefur serve: --state-file: the directory .*missing does not exist; the state could never be saved$/,
    );
    refused(
      await serve(...off, "--state-file", dir),
      /^hefur serve: --state-file: .* is a directory$/,
    );
    // Paths the sandbox does not let Hefur write: said to be the sandbox's doing.
    const sandbox = /Hefur's sandbox does not allow write access to \/usr.*docs\/security\.md/;
    refused(await serve(...off, "--state-file", "/usr/hefur-state.jsonl"), sandbox);
    refused(await serve(...off, "--log-file", "/usr/hefur.log"), sandbox);
    refused(await serve(...off, "--audit-log", "/usr/hefur-audit.log"), sandbox);
    refused(await serve(...off, "--control-socket", "/usr/hefur.sock"), sandbox);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a path the sandbox refuses is said to be refused by Hefur's sandbox, and where to read why", async () => {
  const off = ["--http-port", "0", "--udp-port", "0"];
  const sandbox = /Hefur's sandbox does not allow read access to \/proc.*see docs\/security\.md/;
  refused(await serve(...off, "--www-dir", "/proc"), sandbox);
  refused(await serve(...off, "--torrent-dir", "/proc"), sandbox);
  const config = await serve(...off, "--config", "/proc/self/hefur.toml");
  assert.equal(config.code, 2, "an unusable command line");
  assert.match(
    config.stderr,
    /^hefur serve: cannot read the configuration file \/proc\/self\/hefur\.toml: Hefur's sandbox does not allow read access/,
  );
  assert.doesNotMatch(config.stderr, /run again with|--allow-/);
});

Deno.test("a port in use names the listener, the address and the option", async () => {
  const off = ["--http-port", "0", "--udp-port", "0"];
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const t = tcp.addr.port;
  const u = (udp.addr as Deno.NetAddr).port;
  try {
    const inUse = (protocol: string, port: number, option: string) =>
      new RegExp(
        `cannot listen for ${protocol} on 127\\.0\\.0\\.1:${port}: the address is already in use .*another ${option}`,
      );
    refused(
      await serve("--http-port", String(t), "--udp-port", "0"),
      inUse("HTTP", t, "--http-port"),
    );
    refused(
      await serve("--http-port", "0", "--udp-port", String(u)),
      inUse("UDP", u, "--udp-port"),
    );
    refused(await serve(...off, "--ws-port", String(t)), inUse("WebSocket", t, "--ws-port"));
    refused(
      await serve(...off, "--metrics-bind", `127.0.0.1:${t}`),
      inUse("/metrics", t, "--metrics-bind"),
    );
  } finally {
    tcp.close();
    udp.close();
  }
  assert.ok(freePort() > 0);
});

Deno.test("the ready line writes IPv6 listeners in brackets, as ADDR:PORT is read", async () => {
  const http = freePort();
  const udp = freePort();
  const args = ["serve", "--bind-addr", "::1", "--control-socket", ""];
  const ports = [
    "--http-port",
    String(http),
    "--udp-port",
    String(udp),
    "--metrics-bind",
    "[::1]:0",
  ];
  const server = await spawnServe(sandboxed(ENTRY, [...args, ...ports]));
  try {
    assert.match(server.readyLine, new RegExp(`http=\\[::1\\]:${http}\\b`));
    assert.match(server.readyLine, new RegExp(`udp=\\[::1\\]:${udp}\\b`));
    assert.match(server.readyLine, /metrics=\[::1\]:[0-9]+\b/);
    const res = await fetch(`http://${/http=(\S+)/.exec(server.readyLine)?.[1]}/stat`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
});

Deno.test("the sandboxed server reads its --config file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-startup-" });
  try {
    const port = freePort();
    await Deno.writeTextFile(`${dir}/hefur.toml`, `http-port = ${port}\nudp-port = 0\n`);
    const server = await spawnServe(serveCommand("--config", `${dir}/hefur.toml`));
    assert.match(server.readyLine, new RegExp(`http=127\\.0\\.0\\.1:${port}\\b`));
    assert.doesNotMatch(server.readyLine, /udp=/);
    assert.equal((await server.stop()).code, 0);
    await Deno.writeTextFile(`${dir}/hefur.toml`, "http-port = 6969\nhttp-prot = 1\n");
    const bad = await serve("--config", `${dir}/hefur.toml`);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^hefur serve: .*hefur\.toml:2: http-prot: unknown option/);
    // Values checked once logging is set up name the file and line too.
    await Deno.writeTextFile(`${dir}/hefur.toml`, '# levels\nlog-level = "loud"\n');
    const level = await serve("--config", `${dir}/hefur.toml`);
    assert.equal(level.code, 2);
    assert.match(
      level.stderr,
      /^hefur serve: .*hefur\.toml:2: log-level: unknown log level "loud"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a torrent directory allowed to be missing is tracked once a walk finds it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-startup-" });
  try {
    const torrents = `${dir}/later`;
    await using hefur = await startTestHefur({
      torrentDir: torrents,
      torrentDirMayBeMissing: true,
    });
    const t = makeTorrent("later");
    const announce = async () =>
      decoder.decode(await (await fetch(announceUrl(hefur.http!.addr.port, t.key))).bytes());
    assert.match(await announce(), /torrent not found/);
    await Deno.mkdir(torrents);
    await Deno.writeFile(`${torrents}/later.torrent`, t.bytes);
    await hefur.whitelist!.scanNow(); // what the next periodic walk does
    assert.match(await announce(), /8:intervali\d+e/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hefur ctl says a file the sandbox refuses is refused by Hefur's sandbox", async () => {
  const out = await sandboxed(ENTRY, [
    "ctl",
    "--socket",
    "/nonexistent/control",
    "release-torrent",
    "/etc/shadow",
  ])
    .output();
  const stderr = decoder.decode(out.stderr);
  assert.equal(out.code, 1, stderr);
  assert.match(
    stderr,
    /^hefur ctl: release-torrent \/etc\/shadow: cannot read \/etc\/shadow: Hefur's sandbox does not allow read access to \/etc\/shadow .*docs\/security\.md/,
  );
  assert.doesNotMatch(stderr, /run again with|--allow-/);

  const socket = await sandboxed(ENTRY, ["ctl", "--socket", "/proc/hefur-control", "status"])
    .output();
  const said = decoder.decode(socket.stderr);
  assert.equal(socket.code, 3, said);
  assert.match(said, /Hefur's sandbox does not allow read access to \/proc\/hefur-control/);
  assert.doesNotMatch(said, /run again with|--allow-/);
});
