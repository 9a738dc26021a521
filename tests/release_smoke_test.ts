// The release's smoke test: what a user does first with the executable, on the system it is built
// for. The release workflow (.github/workflows/release.yml) runs it on each target's own system:
//
//   HEFUR_BIN=dist/hefur-<target> HEFUR_SANDBOX_PROBE=dist/probes/sandbox-probe-<target> \
//     deno test --allow-all tests/release_smoke_test.ts
//
// Without HEFUR_BIN (as in `deno task test`), Hefur runs from source with `deno run` and exactly
// the flags compiled into the executable (build.ts's SANDBOX_FLAGS and V8_FLAGS), so every path
// the executable takes here is taken from source too; likewise the probe without
// HEFUR_SANDBOX_PROBE.
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { DENO_VERSION, ENTRY, PROBE_ENTRY, SANDBOX_FLAGS, V8_FLAGS } from "../build.ts";
import { platformHelp, platformWarning } from "../src/platform.ts";
import { parseUdpReply } from "../src/protocol/udp_packet.ts";
import { VERSION } from "../src/version.ts";
import { freePort } from "./helpers.ts";
import { failureOf, httpAnnounce, UdpClient, udpStartedAnnounce } from "./support/clients.ts";
import { ROOT, spawnServe } from "./support/serve_process.ts";
import { BARE_SERVE_ARGS, loopbackServeArgs } from "./process_helpers.ts";
import { makeTorrent } from "./support/torrents.ts";
import {
  PROBE_ALLOWED,
  PROBE_IMPORTS,
  PROBE_REFUSED,
  PROBE_THROUGH_LINKS,
} from "./support/sandbox_probe_checks.ts";

const decoder = new TextDecoder();
const HEFUR_BIN = Deno.env.get("HEFUR_BIN");
const PROBE_BIN = Deno.env.get("HEFUR_SANDBOX_PROBE");
/** The target HEFUR_BIN was built for, when the caller says (the release workflow does). */
const TARGET = Deno.env.get("HEFUR_TARGET");

/** The command that runs `program` (the executable, or `entry` from source) with `args`. */
function command(program: string | undefined, entry: string, args: string[]): Deno.Command {
  const [cmd, prefix] = program
    ? [resolve(program), []]
    : [Deno.execPath(), ["run", ...SANDBOX_FLAGS, ...V8_FLAGS, entry]];
  return new Deno.Command(cmd, {
    args: [...prefix, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** `hefur <args>`, run to the end. */
async function hefur(...args: string[]) {
  const out = await command(HEFUR_BIN, ENTRY, args).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The commit this checkout is at, as build.ts bakes it (`-dirty` allowed), if git knows it. */
async function checkoutCommit(): Promise<RegExp | undefined> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short=12", "HEAD"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new RegExp(`^${decoder.decode(out.stdout).trim()}(-dirty)?$`) : undefined;
  } catch {
    return undefined;
  }
}

Deno.test(`release smoke test (${HEFUR_BIN ?? "from source, with the executable's flags"})`, async (t) => {
  await t.step({
    name: "the executable's own system",
    ignore: TARGET === undefined,
    fn: () => assert.equal(Deno.build.target, TARGET, "runs on the system it was built for"),
  });

  await t.step("--version: the version, the commit and the Deno it was built with", async () => {
    const out = await hefur("--version");
    assert.equal(out.code, 0, out.stderr);
    const m = out.stdout.match(/^hefur (\S+) \(commit ([^)]+)\)\nDeno (\S+) \(([^)]+)\)\n/);
    assert.ok(m, out.stdout);
    const [, version, commit, deno, target] = m;
    assert.equal(version, VERSION);
    // The runtime in the executable is the one of the Deno that built it; this test runs on the
    // executable's own system, so its target is this Deno's.
    assert.equal(deno, HEFUR_BIN ? DENO_VERSION : Deno.version.deno);
    assert.equal(target, Deno.build.target);
    const expected = await checkoutCommit();
    if (!HEFUR_BIN) assert.equal(commit, "unknown");
    else if (expected) assert.match(commit, expected);
  });

  await t.step("--help and serve --help, with what this system lacks", async () => {
    const help = await hefur("--help");
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /serve \[options\]/);
    const serveHelp = await hefur("serve", "--help");
    assert.equal(serveHelp.code, 0, serveHelp.stderr);
    assert.match(serveHelp.stdout, /--torrent-dir/);
    for (const text of [help.stdout, serveHelp.stdout]) {
      assert.ok(text.includes(platformHelp()), "the platform notes are in the help");
    }
  });

  await t.step(
    "the Redis store's client is there: an unreachable store is said to be so, and Hefur answers",
    async () => {
      const port = freePort(); // nothing listens there
      const server = await spawnServe(command(HEFUR_BIN, ENTRY, [
        "serve",
        "--store",
        `redis://127.0.0.1:${port}`,
        ...BARE_SERVE_ARGS,
      ]));
      const out = await server.stop();
      assert.equal(out.code, 0, out.stderr);
      assert.match(
        out.stderr,
        new RegExp(
          `cannot reach the store redis://127\\.0\\.0\\.1:${port} yet \\(.+\\): answering from memory`,
        ),
      );
    },
  );

  const dir = await Deno.makeTempDir({ prefix: "hefur-smoke-" });
  try {
    const first = makeTorrent("smoke-first");
    const released = makeTorrent("smoke-released");
    await Deno.mkdir(join(dir, "torrents"));
    await Deno.writeFile(join(dir, "torrents", "first.torrent"), first.bytes);
    await Deno.writeFile(join(dir, "released.torrent"), released.bytes);
    const socket = join(dir, "control");
    const http = freePort();
    const udp = freePort("udp");
    const server = await spawnServe(command(HEFUR_BIN, ENTRY, [
      "serve",
      "--torrent-dir",
      join(dir, "torrents"),
      ...loopbackServeArgs(http, udp),
      "--control-socket",
      socket,
    ]));
    const base = `http://127.0.0.1:${http}`;
    const ctl = (...args: string[]) => hefur("ctl", "--socket", socket, ...args);
    let quit = false;
    try {
      await t.step("serve --torrent-dir: ready on UDP, HTTP and the control socket", () => {
        assert.match(server.readyLine, new RegExp(`http=127\\.0\\.0\\.1:${http}`));
        assert.match(server.readyLine, new RegExp(`udp=127\\.0\\.0\\.1:${udp}`));
        assert.ok(server.readyLine.includes(`control=${socket}`), server.readyLine);
      });

      await t.step("a UDP announce of a tracked torrent", async () => {
        using client = new UdpClient(udp);
        const connected = await client.connect();
        assert.ok(Array.isArray(connected), JSON.stringify(connected));
        const reply = parseUdpReply(
          await client.exchange(udpStartedAnnounce(connected, {
            transactionId: 2,
            infoHash: first.key,
            peerId: "-HF0001-" + "u".repeat(12),
            port: 6882,
          })),
        );
        assert.equal(reply.kind, "announce", JSON.stringify(reply));
        if (reply.kind === "announce") assert.equal(reply.seeders, 1);
      });

      await t.step(
        "an HTTP announce: the UDP peer is there; an unknown torrent is not",
        async () => {
          const reply = await httpAnnounce(base, { infoHash: first.key, port: 6883 });
          assert.equal(failureOf(reply), undefined);
          assert.equal(reply.get("complete"), 1);
          const unknown = await httpAnnounce(base, { infoHash: released.key, port: 6883 });
          assert.match(failureOf(unknown) ?? "", /torrent not found/);
        },
      );

      await t.step(
        "hefur ctl release-torrent: published into the directory, tracked at once",
        async () => {
          const out = await ctl("release-torrent", join(dir, "released.torrent"));
          assert.equal(out.code, 0, out.stderr);
          assert.match(out.stdout, new RegExp(`v1 info hash: ${released.hex}`));
          const names = [...Deno.readDirSync(join(dir, "torrents"))].map((e) => e.name).sort();
          assert.equal(names.length, 2, names.join(", "));
          const reply = await httpAnnounce(base, { infoHash: released.key, port: 6884 });
          assert.equal(failureOf(reply), undefined);
        },
      );

      await t.step("/stat lists both torrents; the embedded page assets are served", async () => {
        const stat = await fetch(`${base}/stat`);
        const html = await stat.text();
        assert.equal(stat.status, 200);
        assert.match(html, /smoke-first/);
        assert.match(html, /smoke-released/);
        const css = await fetch(`${base}/css/hefur.css`);
        assert.equal(css.status, 200);
        assert.deepEqual(await css.bytes(), await Deno.readFile(join(ROOT, "www/css/hefur.css")));
      });

      await t.step("hefur ctl quit: the server stops by itself, cleanly", async () => {
        const out = await ctl("quit");
        assert.equal(out.code, 0, out.stderr);
        quit = true;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const ended = await Promise.race([
          server.exited,
          new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 15_000)),
        ]).finally(() => clearTimeout(timer));
        assert.ok(ended, "still running 15 s after hefur ctl quit");
        assert.equal(ended.code, 0, ended.stderr);
        assert.doesNotMatch(ended.stderr, /NotCapable|Requires \w+ access/, ended.stderr);
        // What this system lacks was said at start-up, once (nothing on Linux).
        const warning = platformWarning();
        if (warning) assert.ok(ended.stderr.includes(`hefur: warning: ${warning}\n`), ended.stderr);
        else assert.doesNotMatch(ended.stderr, /runs without|not a system Hefur supports/);
        assert.throws(() => Deno.statSync(socket), Deno.errors.NotFound, "socket file removed");
      });
    } finally {
      if (!quit) await server.stop();
    }

    await t.step("the sandbox probe: allowed what Hefur needs, refused the rest", async () => {
      await Deno.writeTextFile(join(dir, "probe.txt"), "x");
      const out = await command(PROBE_BIN, PROBE_ENTRY, [dir]).output();
      assert.equal(out.code, 0, decoder.decode(out.stderr));
      const results = JSON.parse(decoder.decode(out.stdout)) as Record<string, string>;
      assert.deepEqual(
        Object.keys(results).sort(),
        [...PROBE_ALLOWED, ...PROBE_IMPORTS, ...PROBE_THROUGH_LINKS, ...PROBE_REFUSED].sort(),
      );
      if (Deno.build.os === "linux") {
        for (const check of PROBE_THROUGH_LINKS) assert.equal(results[check], "allowed", check);
      }
      for (const check of PROBE_ALLOWED) assert.equal(results[check], "allowed", check);
      for (const check of PROBE_REFUSED) assert.equal(results[check], "refused", check);
      for (const check of PROBE_IMPORTS) {
        if (PROBE_BIN) assert.notEqual(results[check], "allowed", check);
        else assert.equal(results[check], "refused", check);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
