// The permission sandbox: Hefur run from source with exactly the flags the executable is built
// with (build.ts's SANDBOX_FLAGS, the permission set `hefur` of deno.json) does everything it is
// for, and what the sandbox forbids is refused.
import assert from "node:assert/strict";
import { ENTRY, RUN_FLAGS, SANDBOX_FLAGS, V8_FLAGS } from "../build.ts";
import denoJson from "../deno.json" with { type: "json" };
import { createHash } from "node:crypto";
import { encode } from "../src/protocol/bencode.ts";
import { encodeUdpRequest, parseUdpReply } from "../src/protocol/udp_packet.ts";
import { udpStartedAnnounce } from "./support/clients.ts";
import { freePort } from "./helpers.ts";
import { announceUrl, sandboxed, spawnServe } from "./support/serve_process.ts";
import { loopbackServeArgs } from "./process_helpers.ts";
import { hasOpenssl, makeCertificates } from "./support/certificates.ts";
import {
  PROBE_ALLOWED,
  PROBE_IMPORTS,
  PROBE_REFUSED,
  PROBE_THROUGH_LINKS,
} from "./support/sandbox_probe_checks.ts";

const decoder = new TextDecoder();

/** `hefur <args>` in the sandbox, run to the end. */
async function hefur(...args: string[]) {
  const out = await sandboxed(ENTRY, args).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Fails with what the sandbox refused, when a run stopped on a missing permission. */
function assertNotRefused(stderr: string) {
  assert.doesNotMatch(stderr, /NotCapable|Requires \w+ access/, stderr);
}

Deno.test("the deno.json tasks run Hefur with the same sandbox and V8 flags as the executable", () => {
  const run = `deno run ${[...RUN_FLAGS, ...SANDBOX_FLAGS, ...V8_FLAGS].join(" ")} ${ENTRY}`;
  assert.equal(denoJson.tasks.hefur, run);
  assert.equal(denoJson.tasks.start, `${run} serve`);
  // Nothing but Deno's diagnostics: no flag that could widen or change the permissions.
  for (const flag of RUN_FLAGS) assert.doesNotMatch(flag, /allow|deny|permission|-A\b/);
});

Deno.test("deno task hefur prints no warning of Deno's own", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "hefur", "--version"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = decoder.decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(decoder.decode(out.stdout), /^hefur \d+\.\d+\.\d+/);
  assert.doesNotMatch(stderr, /warning|experimental/i, stderr);
  // deno task's own line naming the command it runs is all there is.
  assert.deepEqual(stderr.trim().split("\n").filter((l) => !/^Task hefur /.test(l)), []);
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
      ...loopbackServeArgs(port),
      "--log-level",
      "info",
      "--log-file",
      `${dir}/logs/hefur-%Y.log`,
      "--control-socket",
      `${dir}/run/control`,
    ]));
    let stopped;
    try {
      assert.match(server.readyLine, new RegExp(`http=127\\.0\\.0\\.1:${port}`));
      const reply = await fetch(announceUrl(port));
      const body = decoder.decode(await reply.bytes());
      assert.equal(reply.status, 200);
      assert.match(body, /^d.*8:intervali\d+e/, body);
      // hefur ctl in the same sandbox, on the control socket.
      const status = await hefur("ctl", "--socket", `${dir}/run/control`, "--json", "status");
      assertNotRefused(status.stderr);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).result.requests.announces, 1);
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

/** A small v1 torrent named `name` and its info hash (binary string). */
function torrent(name: string): { bytes: Uint8Array; hash: string } {
  const info = { length: 1000, name, "piece length": 16384, pieces: new Uint8Array(20) };
  const digest = createHash("sha1").update(encode(info)).digest();
  return {
    bytes: encode({ announce: "http://127.0.0.1/announce", info }),
    hash: String.fromCharCode(...digest),
  };
}

/** One UDP request to `port` on 127.0.0.1 and its reply, waiting at most 5 s. */
async function udpExchange(port: number, packet: Uint8Array) {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await socket.send(packet, { transport: "udp", hostname: "127.0.0.1", port });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no UDP reply within 5 s")), 5000);
    });
    const [data] = await Promise.race([socket.receive(), timeout]);
    return parseUdpReply(data);
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}

Deno.test("serve tracks a torrent directory over HTTP and UDP and picks up new files, in the sandbox", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-sandbox-" });
  try {
    const first = torrent("first");
    await Deno.mkdir(`${dir}/torrents/sub`, { recursive: true });
    await Deno.writeFile(`${dir}/torrents/sub/first.torrent`, first.bytes);
    const http = freePort();
    const udp = freePort("udp");
    const server = await spawnServe(sandboxed(ENTRY, [
      "serve",
      ...loopbackServeArgs(http, udp),
      "--torrent-dir",
      `${dir}/torrents`,
      "--control-socket",
      `${dir}/control`,
    ]));
    let stopped;
    try {
      assert.match(server.readyLine, new RegExp(`udp=127\\.0\\.0\\.1:${udp}`));
      const known = decoder.decode(await (await fetch(announceUrl(http, first.hash))).bytes());
      assert.match(known, /8:intervali\d+e/, known);
      const unknown = decoder.decode(await (await fetch(announceUrl(http))).bytes());
      assert.match(unknown, /torrent not found/, unknown);

      const connect = await udpExchange(
        udp,
        encodeUdpRequest({ kind: "connect", transactionId: 7 }),
      );
      assert.equal(connect.kind, "connect");
      if (connect.kind !== "connect") throw new Error("unreachable");
      const announce = await udpExchange(
        udp,
        udpStartedAnnounce([connect.connectionIdHi, connect.connectionIdLo], {
          transactionId: 8,
          infoHash: first.hash,
          peerId: "-HF0001-" + "u".repeat(12),
          port: 6882,
        }),
      );
      assert.equal(announce.kind, "announce", JSON.stringify(announce));

      // A file added while it runs is picked up by the watch (or the next walk): bounded wait.
      const second = torrent("second");
      await Deno.writeFile(`${dir}/torrents/second.torrent`, second.bytes);
      let reply = "";
      for (let i = 0; i < 100 && !/interval/.test(reply); i++) {
        await new Promise((r) => setTimeout(r, 100));
        reply = decoder.decode(await (await fetch(announceUrl(http, second.hash))).bytes());
      }
      assert.match(reply, /8:intervali\d+e/, reply);
    } finally {
      stopped = await server.stop();
    }
    assertNotRefused(stopped.stderr);
    assert.equal(stopped.code, 0, stopped.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve's pages, embedded assets, .torrent downloads, HTTPS and WebSocket work in the sandbox", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-sandbox-" });
  try {
    const one = torrent("sandboxed-pages");
    await Deno.mkdir(`${dir}/torrents`);
    await Deno.writeFile(`${dir}/torrents/one.torrent`, one.bytes);
    const certs = hasOpenssl ? await makeCertificates(dir) : undefined;
    const http = freePort();
    const https = freePort();
    const server = await spawnServe(sandboxed(ENTRY, [
      "serve",
      ...loopbackServeArgs(http),
      "--torrent-dir",
      `${dir}/torrents`,
      "--control-socket",
      `${dir}/control`,
      ...(certs
        ? [
          "--https-port",
          String(https),
          "--http-cert",
          certs.certPath,
          "--http-key",
          certs.keyPath,
        ]
        : []),
    ]));
    let stopped;
    try {
      const base = `http://127.0.0.1:${http}`;
      const hex = [...one.hash].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");

      await t.step("pages and the assets embedded from www/", async () => {
        const stat = await fetch(`${base}/stat`);
        const html = await stat.text();
        assert.equal(stat.status, 200);
        assert.match(html, /sandboxed-pages/);
        const css = await fetch(`${base}/css/hefur.css`);
        const body = await css.bytes();
        assert.equal(css.status, 200);
        assert.deepEqual(
          body,
          await Deno.readFile(new URL("../www/css/hefur.css", import.meta.url)),
        );
        const peers = await fetch(`${base}/peers?info_hash=${hex}`);
        await peers.body?.cancel();
        assert.equal(peers.status, 200);
      });

      await t.step("the .torrent file, read from the torrent directory", async () => {
        const file = await fetch(`${base}/file/${hex}.torrent`);
        assert.equal(file.status, 200);
        assert.deepEqual(await file.bytes(), one.bytes);
      });

      await t.step("a WebSocket (WebTorrent) announce", async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${http}/announce`);
        try {
          await new Promise((resolve, reject) => {
            ws.onopen = resolve;
            ws.onerror = () => reject(new Error("WebSocket connection failed"));
          });
          const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("no WebSocket reply in 5 s")), 5000);
            ws.onmessage = (e) => {
              clearTimeout(timer);
              resolve(JSON.parse(e.data as string));
            };
          });
          ws.send(JSON.stringify({
            action: "announce",
            info_hash: one.hash,
            peer_id: "-HF0001-" + "w".repeat(12),
            event: "started",
            left: 0,
            numwant: 0,
            offers: [],
          }));
          const message = await reply;
          assert.equal(message.action, "announce", JSON.stringify(message));
          assert.equal(typeof message.interval, "number", JSON.stringify(message));
        } finally {
          const closed = new Promise((resolve) => ws.addEventListener("close", resolve));
          ws.close();
          await closed;
        }
      });

      await t.step({
        name: "an announce over HTTPS, with the certificate and key read at start",
        ignore: certs === undefined,
        async fn() {
          const client = Deno.createHttpClient({ caCerts: [certs!.ca] });
          try {
            const url = announceUrl(https, one.hash).replace(
              "http://127.0.0.1",
              "https://localhost",
            );
            const reply = await fetch(url, { client });
            assert.match(decoder.decode(await reply.bytes()), /8:intervali\d+e/);
          } finally {
            client.close();
          }
        },
      });
    } finally {
      stopped = await server.stop();
    }
    assertNotRefused(stopped.stderr);
    assert.equal(stopped.code, 0, stopped.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the sandbox refuses programs, native code, secrets, system files, other variables and remote code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-probe-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.txt`, "x");
    const probe = async (flags: readonly string[], scope: string[]) => {
      const out = await sandboxed("tests/fixtures/sandbox_probe.ts", [dir, ...scope], { flags })
        .output();
      assert.equal(out.code, 0, decoder.decode(out.stderr));
      return JSON.parse(decoder.decode(out.stdout)) as Record<string, string>;
    };
    const sandbox = await probe(SANDBOX_FLAGS, []);

    const allowed = [...PROBE_ALLOWED, ...PROBE_THROUGH_LINKS];
    const refused = [...PROBE_REFUSED, ...PROBE_IMPORTS];
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

/** A valid torrent file in /root/.gnupg, which the sandbox denies for reading (tests run as root). */
async function deniedTorrent(
  name: string,
): Promise<{ hash: string; path: string } & AsyncDisposable> {
  let made = false;
  try {
    await Deno.mkdir("/root/.gnupg", { mode: 0o700 });
    made = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const t = torrent(name);
  const path = `/root/.gnupg/hefur-test-${crypto.randomUUID()}.torrent`;
  await Deno.writeFile(path, t.bytes, { mode: 0o600 });
  return {
    hash: t.hash,
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path);
      if (made) await Deno.remove("/root/.gnupg").catch(() => {});
    },
  };
}

/** True when an HTTP announce for `hash` is accepted: the torrent is tracked. */
async function isTracked(port: number, hash: string): Promise<boolean> {
  const body = decoder.decode(await (await fetch(announceUrl(port, hash))).bytes());
  return !/failure reason/.test(body);
}

Deno.test("serve in the sandbox: links in the torrent directory never lead into denied paths, at start or later", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-sandbox-links-" });
  await using early = await deniedTorrent("early-secret");
  await using late = await deniedTorrent("late-secret");
  try {
    await Deno.mkdir(`${dir}/torrents`);
    await Deno.mkdir(`${dir}/outside`);
    const inside = torrent("inside");
    const outside = torrent("outside");
    await Deno.writeFile(`${dir}/torrents/inside.torrent`, inside.bytes);
    await Deno.writeFile(`${dir}/outside/outside.torrent`, outside.bytes);
    await Deno.symlink("/etc/shadow", `${dir}/torrents/shadow.torrent`);
    await Deno.symlink(early.path, `${dir}/torrents/early.torrent`);
    // The state file is a link: it is neither read through nor written through.
    await Deno.writeTextFile(`${dir}/outside/state`, "original");
    await Deno.symlink(`${dir}/outside/state`, `${dir}/state`);
    const port = freePort();
    const server = await spawnServe(sandboxed(ENTRY, [
      "serve",
      ...loopbackServeArgs(port),
      "--torrent-dir",
      `${dir}/torrents`,
      "--follow-external-links",
      "--state-file",
      `${dir}/state`,
      "--control-socket",
      "",
      "--log-level",
      "info",
    ]));
    let stopped;
    try {
      assert.ok(await isTracked(port, inside.hash));
      assert.equal(await isTracked(port, early.hash), false);
      // Links appearing while it runs (Deno.watchFs reports none of these): the denied ones
      // first, then one it may follow; once that one is tracked, the others were judged too.
      await Deno.symlink("/etc/shadow", `${dir}/torrents/later-shadow.torrent`);
      await Deno.symlink(late.path, `${dir}/torrents/later.torrent`);
      await Deno.symlink(`${dir}/outside/outside.torrent`, `${dir}/torrents/outside.torrent`);
      for (let i = 0; i < 100 && !(await isTracked(port, outside.hash)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(await isTracked(port, outside.hash), "a new link is followed within 5 s");
      assert.equal(await isTracked(port, late.hash), false);
    } finally {
      stopped = await server.stop();
    }
    assertNotRefused(stopped.stderr);
    assert.equal(stopped.code, 0, stopped.stderr);
    for (const name of ["shadow", "later-shadow"]) {
      assert.match(
        stopped.stderr,
        new RegExp(
          `${name}\\.torrent: it leads to /etc/shadow, which is under /etc/shadow, denied`,
        ),
      );
    }
    assert.match(
      stopped.stderr,
      /early\.torrent: it leads to \/root\/\.gnupg\/.*, which is under \/root\/\.gnupg, denied/,
    );
    assert.match(
      stopped.stderr,
      /later\.torrent: it leads to \/root\/\.gnupg\/.*, which is under \/root\/\.gnupg, denied/,
    );
    assert.doesNotMatch(stopped.stderr, /not a valid torrent/, "nothing denied was read");
    assert.match(stopped.stderr, /state.* is a symbolic link; Hefur does not write through links/);
    assert.equal(await Deno.readTextFile(`${dir}/outside/state`), "original");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve in the sandbox: a link at a file it writes stops it with one line, nothing written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-sandbox-writes-" });
  const absent = `/etc/hefur-test-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(`${dir}/target`, "original");
    const cases: [string, string[]][] = [
      ["log", ["--log-file", `${dir}/log`]],
      ["audit", ["--audit-log", `${dir}/audit`]],
      ["control.lock", ["--control-socket", `${dir}/control`]],
    ];
    for (const [name, args] of cases) {
      for (const target of [`${dir}/target`, absent]) {
        await Deno.remove(`${dir}/${name}`).catch(() => {});
        await Deno.symlink(target, `${dir}/${name}`);
        const run = await hefur("serve", "--http-port", "0", "--udp-port", "0", ...args);
        const lines = run.stderr.split("\n").filter((l) => l !== "" && !/Warning/.test(l));
        assert.notEqual(run.code, 0, run.stderr);
        assert.equal(lines.length, 1, run.stderr);
        assert.match(lines[0], new RegExp(`${name} is a symbolic link; Hefur does not write`));
        assert.equal(await Deno.readTextFile(`${dir}/target`), "original");
        await assert.rejects(Deno.lstat(absent), Deno.errors.NotFound);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
