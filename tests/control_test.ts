// The control socket: protocol, server (permissions, stale sockets, bounds) and the commands.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../src/protocol/bencode.ts";
import { parseMetainfo, wireHashes } from "../src/protocol/metainfo.ts";
import { binaryToHex } from "../src/protocol/binary.ts";
import {
  ControlError,
  decodeRequest,
  encodeRequest,
  LineSplitter,
  type ReleaseResult,
  type RetireResult,
  type StatusResult,
} from "../src/control/protocol.ts";
import { type ControlHandler, ControlServer } from "../src/control/server.ts";
import { ControlClient, ControlUnreachableError } from "../src/control/client.ts";
import { defaultSocketPath } from "../src/control/socket_path.ts";
import { controlHandler } from "../src/control/commands.ts";
import { torrentFileName } from "../src/control/torrents.ts";
import { startTestHefur } from "./helpers.ts";

/** A small valid v1 `.torrent`. */
export function v1Torrent(name: string, seed = 0): Uint8Array {
  return encode({
    announce: "http://tracker.example/announce",
    info: { name, length: 3 + seed, "piece length": 16384, pieces: new Uint8Array(20).fill(seed) },
  });
}

/** A small valid hybrid (v1 + v2) `.torrent`. */
export function hybridTorrent(name: string): Uint8Array {
  return encode({
    info: {
      name,
      "meta version": 2,
      "piece length": 16384,
      "file tree": { "a.txt": { "": { length: 5, "pieces root": new Uint8Array(32).fill(1) } } },
      pieces: new Uint8Array(20),
      files: [{ length: 5, path: ["a.txt"] }],
    },
  });
}

async function withTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("protocol: requests are checked, with the id kept when readable", () => {
  assert.deepEqual(decodeRequest(encodeRequest("a", "quit")), {
    v: 1,
    id: "a",
    cmd: "quit",
    args: {},
  });
  const fails = (line: string, code: string, id: unknown, message: RegExp) => {
    assert.throws(() => decodeRequest(line), (e) => {
      assert.ok(e instanceof ControlError);
      assert.equal(e.code, code);
      assert.equal(e.id, id);
      assert.match(e.message, message);
      return true;
    });
  };
  fails("status", "bad_request", null, /not JSON/);
  fails("[1]", "bad_request", null, /not a JSON object/);
  fails('{"v":1,"cmd":"status"}', "bad_request", null, /missing id/);
  fails('{"v":2,"id":3,"cmd":"status"}', "unsupported_version", 3, /version 2 .* speaks 1/);
  fails('{"v":1,"id":4}', "bad_request", 4, /missing cmd/);
  fails('{"v":1,"id":5,"cmd":"shutdown"}', "unknown_command", 5, /unknown command "shutdown"/);
  fails('{"v":1,"id":6,"cmd":"status","args":[]}', "bad_request", 6, /args must be an object/);
});

Deno.test("protocol: lines are cut on newlines and bounded", () => {
  const s = new LineSplitter(8);
  const enc = (t: string) => new TextEncoder().encode(t);
  assert.deepEqual(s.push(enc("abc\nde")), ["abc"]);
  assert.deepEqual(s.push(enc("f\n\ng")), ["def", ""]);
  assert.equal(s.pending, 1);
  assert.throws(() => s.push(enc("12345678")), /line longer than 8 bytes/);
});

Deno.test("default socket path: explicit, systemd, root, XDG, then /tmp per user", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.equal(
    defaultSocketPath(env({ HEFUR_CONTROL_SOCKET: "/x/s", RUNTIME_DIRECTORY: "/r" }), 0),
    "/x/s",
  );
  assert.equal(
    defaultSocketPath(env({ RUNTIME_DIRECTORY: "/run/hefur:/run/other" }), 7),
    "/run/hefur/control",
  );
  assert.equal(defaultSocketPath(env({ XDG_RUNTIME_DIR: "/run/user/0" }), 0), "/run/hefur/control");
  assert.equal(
    defaultSocketPath(env({ XDG_RUNTIME_DIR: "/run/user/5" }), 5),
    "/run/user/5/hefur/control",
  );
  assert.equal(defaultSocketPath(env({}), 5), "/tmp/hefur-5/control");
});

const echo: ControlHandler = (cmd, args) => {
  if (args.fail === "expected") throw new ControlError("not_found", "no such thing");
  if (args.fail === "bug") throw new TypeError("oops");
  return { cmd, args };
};

Deno.test("server: owner-only socket in a new 0700 directory, removed on close", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "run", "hefur", "control");
    const server = await ControlServer.listen(path, echo);
    try {
      assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.lstat(join(dir, "run"))).mode! & 0o777, 0o700);
      assert.equal((await Deno.lstat(join(dir, "run", "hefur"))).mode! & 0o777, 0o700);
      assert.deepEqual(server.ownedPaths(), [
        join(dir, "run"),
        join(dir, "run", "hefur"),
        path,
        path + ".lock",
      ]);
      const client = await ControlClient.connect(path, 2000);
      try {
        assert.deepEqual(await client.request("status", { x: 1 }), {
          cmd: "status",
          args: { x: 1 },
        });
        await assert.rejects(client.request("status", { fail: "expected" }), (e) => {
          assert.ok(e instanceof ControlError);
          assert.equal(e.code, "not_found");
          assert.equal(e.message, "no such thing");
          return true;
        });
        await assert.rejects(client.request("status", { fail: "bug" }), (e) => {
          assert.ok(e instanceof ControlError);
          assert.equal(e.code, "internal");
          return true;
        });
        await assert.rejects(client.request("launch"), /unknown command "launch"/);
        // The connection survives refusals.
        assert.deepEqual(await client.request("quit"), { cmd: "quit", args: {} });
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
    await assert.rejects(ControlClient.connect(path, 1000), ControlUnreachableError);
  });
});

/** Sends raw text and reads until the server closes or `lines` lines arrived. */
async function raw(path: string, text: string | Uint8Array, lines: number): Promise<string[]> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    const writing = (async () => {
      let off = 0;
      try {
        while (off < bytes.length) off += await conn.write(bytes.subarray(off));
      } catch { /* the server may cut us off */ }
    })();
    const got: string[] = [];
    const splitter = new LineSplitter(1 << 20);
    const buf = new Uint8Array(4096);
    while (got.length < lines) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      got.push(...splitter.push(buf.subarray(0, n)));
    }
    await writing;
    return got;
  } finally {
    conn.close();
  }
}

Deno.test("server: bad lines get answers, an over-long line is refused and cut", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    const server = await ControlServer.listen(path, echo, { maxLineBytes: 1024 });
    try {
      const answers = await raw(path, 'nonsense\n\n{"v":1,"id":9,"cmd":"status"}\n', 2);
      assert.deepEqual(answers.map((a) => JSON.parse(a)), [
        { v: 1, id: null, ok: false, code: "bad_request", error: "the request is not JSON" },
        { v: 1, id: 9, ok: true, result: { cmd: "status", args: {} } },
      ]);
      const long = await raw(path, "x".repeat(5000), 2);
      assert.equal(long.length, 1);
      assert.equal(JSON.parse(long[0]).code, "too_large");
    } finally {
      await server.close();
    }
  });
});

Deno.test("server: connections are bounded; a newcomer closes the one idle longest", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    const server = await ControlServer.listen(path, echo, { maxConnections: 2 });
    const held: Deno.UnixConn[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        held.push(await Deno.connect({ transport: "unix", path }));
        for (let t = 0; t < 50 && server.connections < i + 1; t++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      assert.equal(server.connections, 2);
      // The bound is reached by idle connections: a newcomer is served, the oldest idle one goes.
      const served = await raw(path, '{"v":1,"id":1,"cmd":"status","args":{}}\n', 1);
      assert.deepEqual(JSON.parse(served[0]).result, { cmd: "status", args: {} });
      assert.equal(await held[0].read(new Uint8Array(10)).catch(() => null), null);
      assert.ok(server.connections <= 2);
    } finally {
      for (const c of held) c.close();
      await server.close();
    }
  });
});

Deno.test("server: a newcomer is refused only when every connection is busy", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    const { promise: release, resolve: done } = Promise.withResolvers<void>();
    let started = 0;
    const slow: ControlHandler = async (cmd, args) => {
      started++;
      await release;
      return { cmd, args };
    };
    const server = await ControlServer.listen(path, slow, { maxConnections: 2 });
    try {
      const busy = [1, 2].map((id) =>
        raw(path, `{"v":1,"id":${id},"cmd":"status","args":{}}\n`, 1)
      );
      for (let t = 0; t < 100 && started < 2; t++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(started, 2);
      const refused = await raw(path, "", 1);
      assert.equal(JSON.parse(refused[0]).code, "unavailable");
      done();
      for (const answer of await Promise.all(busy)) assert.equal(JSON.parse(answer[0]).ok, true);
    } finally {
      done();
      await server.close();
    }
  });
});

/**
 * Writes `text` to `conn` every 50 ms (at most 200 times) until the server closes the connection;
 * says whether it did, and what the pending read got (null: closed without a byte).
 */
async function trickleUntilClosed(
  conn: Deno.Conn,
  text: string,
): Promise<{ closed: boolean; read: number | null }> {
  let closed = false;
  const reading = conn.read(new Uint8Array(10)).catch(() => null).then((n) => {
    closed = true;
    return n;
  });
  for (let i = 0; i < 200 && !closed; i++) {
    await conn.write(new TextEncoder().encode(text)).catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
  }
  return { closed, read: closed ? await reading : null };
}

Deno.test("server: a request begun must end within the deadline, however slowly bytes trickle", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    const server = await ControlServer.listen(path, echo, { requestTimeoutMs: 300 });
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      // One byte every 50 ms, never a newline: each byte would renew an idle timeout.
      const { closed, read } = await trickleUntilClosed(conn, "{");
      assert.ok(closed, "closed while bytes were still trickling in");
      assert.equal(read, null, "the server closed the connection");
      // A connection that asks in time is answered; the deadline runs only while a request is
      // under way, so requests further apart than it are served too.
      const client = await ControlClient.connect(path, 2000);
      assert.deepEqual(await client.request("status"), { cmd: "status", args: {} });
      await new Promise((r) => setTimeout(r, 600));
      assert.deepEqual(await client.request("metrics"), { cmd: "metrics", args: {} });
      client.close();
    } finally {
      conn.close();
      await server.close();
    }
  });
});

Deno.test("server: a connection that asks nothing is closed after the idle time, blank lines or not", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    const server = await ControlServer.listen(path, echo, { idleTimeoutMs: 300 });
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      const { closed, read } = await trickleUntilClosed(conn, "\n");
      assert.ok(closed, "closed while blank lines were still coming");
      assert.equal(read, null);
    } finally {
      conn.close();
      await server.close();
    }
  });
});

Deno.test("server: a hundred idle connections do not lock the operator out", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    const server = await ControlServer.listen(path, echo);
    const idle: Deno.UnixConn[] = [];
    try {
      for (let i = 0; i < 100; i++) idle.push(await Deno.connect({ transport: "unix", path }));
      const client = await ControlClient.connect(path, 2000);
      assert.deepEqual(await client.request("status", {}, 2000), { cmd: "status", args: {} });
      client.close();
      assert.ok(server.connections <= 101, `${server.connections} connections open`);
    } finally {
      for (const c of idle) c.close();
      await server.close();
    }
  });
});

Deno.test("server: a link planted at the lock file's path is refused, its target untouched", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    await Deno.writeTextFile(join(dir, "target"), "original");
    await Deno.symlink(join(dir, "target"), `${path}.lock`);
    await assert.rejects(
      ControlServer.listen(path, echo),
      /control socket .*control: .*control\.lock is a symbolic link; Hefur does not write through links/,
    );
    assert.equal(await Deno.readTextFile(join(dir, "target")), "original");
  });
});

Deno.test("server: a stale socket is replaced, a live one or another file is refused", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "control");
    // A socket nobody listens on: what a killed server leaves.
    const dead = Deno.listen({ transport: "unix", path });
    dead.close();
    try {
      await Deno.lstat(path);
    } catch {
      // Deno removed it on close: make a stale one by hand.
      const l = Deno.listen({ transport: "unix", path });
      await Deno.rename(path, path + ".keep");
      l.close();
      await Deno.rename(path + ".keep", path);
    }
    assert.ok((await Deno.lstat(path)).isSocket);
    const server = await ControlServer.listen(path, echo);
    try {
      const client = await ControlClient.connect(path, 2000);
      assert.deepEqual(await client.request("status"), { cmd: "status", args: {} });
      client.close();
      // A second server on the same path is refused while the first lives.
      await assert.rejects(ControlServer.listen(path, echo), /already running|holds .*\.lock/);
      // Even without the lock file (another user's server): the live socket answers.
      await Deno.remove(path + ".lock");
      await assert.rejects(ControlServer.listen(path, echo), /a Hefur is already running there/);
    } finally {
      await server.close();
    }
    await Deno.writeTextFile(path, "not a socket");
    await assert.rejects(
      ControlServer.listen(path, echo),
      /is not a socket is in the way; refusing to replace it/,
    );
    assert.equal(await Deno.readTextFile(path), "not a socket");
  });
});

Deno.test("server: a directory others can write or another user owns is refused", async () => {
  await withTempDir(async (dir) => {
    const open = join(dir, "open");
    await Deno.mkdir(open);
    await Deno.chmod(open, 0o777);
    await assert.rejects(ControlServer.listen(join(open, "control"), echo), /writable by others/);
    if (Deno.uid() === 0) {
      const theirs = join(dir, "theirs");
      await Deno.mkdir(theirs, { mode: 0o700 });
      await Deno.chown(theirs, 65534, 65534);
      await assert.rejects(
        ControlServer.listen(join(theirs, "control"), echo),
        /belongs to user 65534/,
      );
    }
  });
});

Deno.test("torrent file names are sanitised", () => {
  assert.equal(torrentFileName("Debian 12.iso"), "Debian 12.iso.torrent");
  assert.equal(torrentFileName("a/b\\c\x00d"), "a_b_c_d.torrent");
  assert.equal(torrentFileName(".hidden"), "hidden.torrent");
  assert.equal(torrentFileName(""), "torrent.torrent");
  const long = torrentFileName("é".repeat(300));
  assert.ok(new TextEncoder().encode(long).length <= 208);
});

/** A Hefur with a torrent directory (or in open mode) and the control handler on it. */
async function commandsFixture(dir: string, open = false) {
  const hefur = await startTestHefur({ httpPort: 0, torrentDir: open ? "" : dir });
  let stopped = "";
  const handle = controlHandler({ hefur, startedAt: Date.now() - 5000, stop: (r) => stopped = r });
  const call = async (cmd: Parameters<ControlHandler>[0], args: Record<string, unknown> = {}) =>
    await handle(cmd, args);
  const refused = async (p: Promise<unknown>, code: string, message: RegExp) => {
    await assert.rejects(p, (e) => {
      assert.ok(e instanceof ControlError, String(e));
      assert.equal(e.code, code);
      assert.match(e.message, message);
      return true;
    });
  };
  return { hefur, call, refused, stopped: () => stopped };
}

Deno.test("release-torrent: validated, written atomically, tracked at once; duplicates refused", async () => {
  await withTempDir(async (dir) => {
    const { hefur, call, refused } = await commandsFixture(dir);
    try {
      const bytes = v1Torrent("Debian/12");
      const m = parseMetainfo(bytes);
      const r = await call("release-torrent", {
        name: "x.torrent",
        data: bytes.toBase64(),
      }) as ReleaseResult;
      assert.equal(r.file, join(dir, "Debian_12.torrent"));
      assert.deepEqual(await Deno.readFile(r.file), bytes);
      assert.deepEqual(r.infoHashes, [{
        version: 1,
        hex: binaryToHex(m.infoHashV1!),
        wire: binaryToHex(m.infoHashV1!),
      }]);
      assert.equal(
        r.magnet,
        `magnet:?xt=urn:btih:${binaryToHex(m.infoHashV1!)}&dn=Debian%2F12&tr=${
          encodeURIComponent("http://tracker.example/announce")
        }`,
      );
      const t = hefur.tracker.get(m.infoHashV1!);
      assert.equal(t?.info?.path, r.file);
      assert.equal(t?.info?.name, "Debian/12");
      // No temporary file is left behind.
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["Debian_12.torrent"]);

      await refused(
        call("release-torrent", { data: bytes.toBase64() }),
        "duplicate",
        /already tracked: [0-9a-f]{40} \(Debian\/12\) from /,
      );
      await refused(call("release-torrent", { data: "%%%" }), "bad_request", /not valid base64/);
      await refused(call("release-torrent", {}), "bad_request", /args.data/);
      await refused(
        call("release-torrent", { data: new TextEncoder().encode("hello").toBase64() }),
        "invalid_torrent",
        /not a valid \.torrent: not valid bencode/,
      );
      await refused(
        call("release-torrent", { data: encode({ info: { name: "x" } }).toBase64() }),
        "invalid_torrent",
        /neither v1/,
      );
      // Another torrent with the same name gets a hash-suffixed file instead of replacing it.
      const other = v1Torrent("Debian/12", 1);
      const r2 = await call("release-torrent", { data: other.toBase64() }) as ReleaseResult;
      assert.equal(r2.file, join(dir, `Debian_12-${r2.infoHashes[0].hex.slice(0, 8)}.torrent`));
      assert.deepEqual(await Deno.readFile(join(dir, "Debian_12.torrent")), bytes);
      assert.equal(hefur.tracker.size, 2);
    } finally {
      await hefur.close();
    }
  });
});

Deno.test("release-torrent never writes through a link, nor where the sandbox denies writing", async () => {
  await withTempDir(async (dir) => {
    const { call, hefur } = await commandsFixture(dir);
    try {
      // A link planted at the name the release would take: left alone, another name is used.
      const target = await Deno.makeTempFile({ prefix: "hefur-link-target-" });
      try {
        await Deno.writeTextFile(target, "original");
        await Deno.symlink(target, join(dir, "planted.torrent"));
        const bytes = v1Torrent("planted");
        const r = await call("release-torrent", { data: bytes.toBase64() }) as ReleaseResult;
        assert.match(r.file, /planted-[0-9a-f]{8}\.torrent$/);
        assert.equal(await Deno.readTextFile(target), "original");
      } finally {
        await Deno.remove(target);
      }
    } finally {
      await hefur.close();
    }
    // A torrent directory that is a link into /etc, where the sandbox denies writing.
    const etc = await Deno.makeTempDir({ dir: "/etc", prefix: "hefur-test-" });
    try {
      await Deno.symlink(etc, join(dir, "etc-link"));
      const linked = await commandsFixture(join(dir, "etc-link"));
      try {
        await linked.refused(
          linked.call("release-torrent", { data: v1Torrent("etc").toBase64() }),
          "failed",
          /leads to \/etc\/hefur-test-.*, which is under \/etc, denied for writing/,
        );
        assert.deepEqual([...Deno.readDirSync(etc)], []);
      } finally {
        await linked.hefur.close();
      }
    } finally {
      await Deno.remove(etc, { recursive: true });
    }
  });
});

Deno.test("release-torrent: an oversized file is refused; open mode has nowhere to publish", async () => {
  await withTempDir(async (dir) => {
    const f = await commandsFixture(dir);
    try {
      f.hefur.config.maxTorrentSize = 0;
      await f.refused(
        f.call("release-torrent", { data: v1Torrent("a").toBase64() }),
        "invalid_torrent",
        /more than the 0 allowed/,
      );
    } finally {
      await f.hefur.close();
    }
    const o = await commandsFixture(dir, true);
    try {
      await o.refused(
        o.call("release-torrent", { data: v1Torrent("a").toBase64() }),
        "unavailable",
        /no --torrent-dir/,
      );
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    } finally {
      await o.hefur.close();
    }
  });
});

Deno.test("retire-torrent: by hash or file, every hash of a hybrid, the file removed", async () => {
  await withTempDir(async (dir) => {
    const { hefur, call, refused } = await commandsFixture(dir);
    try {
      const hybrid = hybridTorrent("both");
      const m = parseMetainfo(hybrid);
      const released = await call("release-torrent", { data: hybrid.toBase64() }) as ReleaseResult;
      assert.deepEqual(released.infoHashes.map((h) => h.version), [1, 2]);
      assert.equal(hefur.tracker.size, 2);
      // The full v2 hash (64 digits) names the torrent too; both swarms go.
      const r = await call("retire-torrent", {
        hash: binaryToHex(m.infoHashV2!).toUpperCase(),
      }) as RetireResult;
      assert.deepEqual(r.retired.sort(), wireHashes(m).map(binaryToHex).sort());
      assert.deepEqual(r.removedFiles, [join(dir, "both.torrent")]);
      assert.equal(r.name, "both");
      assert.equal(hefur.tracker.size, 0);
      await assert.rejects(Deno.stat(released.file), Deno.errors.NotFound);

      const v1 = v1Torrent("one");
      await call("release-torrent", { data: v1.toBase64() });
      const byFile = await call("retire-torrent", { data: v1.toBase64() }) as RetireResult;
      assert.deepEqual(byFile.removedFiles, [join(dir, "one.torrent")]);
      await refused(
        call("retire-torrent", { data: v1.toBase64() }),
        "not_found",
        /no tracked torrent has info hash/,
      );
      await refused(
        call("retire-torrent", { hash: "ab".repeat(20) }),
        "not_found",
        new RegExp("ab".repeat(20)),
      );
      await refused(call("retire-torrent", { hash: "xyz" }), "bad_request", /not an info hash/);
      await refused(
        call("retire-torrent", { data: new TextEncoder().encode("x").toBase64() }),
        "invalid_torrent",
        /not a valid/,
      );
    } finally {
      await hefur.close();
    }
  });
});

Deno.test("retire-torrent: every copy of the file goes; open mode just forgets the hash", async () => {
  await withTempDir(async (dir) => {
    const { hefur, call } = await commandsFixture(dir);
    try {
      const bytes = v1Torrent("copied");
      const released = await call("release-torrent", { data: bytes.toBase64() }) as ReleaseResult;
      await Deno.mkdir(join(dir, "mirror"));
      await Deno.writeFile(join(dir, "mirror", "copy.torrent"), bytes);
      await hefur.whitelist!.rescanPath(join(dir, "mirror", "copy.torrent"));
      const r = await call("retire-torrent", { hash: released.infoHashes[0].hex }) as RetireResult;
      assert.deepEqual(r.removedFiles.sort(), [
        join(dir, "copied.torrent"),
        join(dir, "mirror", "copy.torrent"),
      ]);
      assert.equal(hefur.tracker.size, 0);
    } finally {
      await hefur.close();
    }
  });
  await withTempDir(async (dir) => {
    const { hefur, call } = await commandsFixture(dir, true);
    try {
      const hash = "\x01".repeat(20);
      hefur.tracker.addTorrent(hash);
      const r = await call("retire-torrent", { hash: "01".repeat(20) }) as RetireResult;
      assert.deepEqual(r, { name: undefined, retired: ["01".repeat(20)], removedFiles: [] });
      assert.equal(hefur.tracker.get(hash), undefined);
    } finally {
      await hefur.close();
    }
  });
});

Deno.test("status shows the whitelist", async () => {
  await withTempDir(async (dir) => {
    const { hefur, call } = await commandsFixture(dir);
    try {
      await Deno.writeFile(join(dir, "pre.torrent"), hybridTorrent("pre"));
      await hefur.whitelist!.scanNow();
      const s = await call("status") as StatusResult;
      assert.deepEqual(s.whitelist, { files: 1, hashes: 2 });
      assert.equal(s.torrents, 2);
    } finally {
      await hefur.close();
    }
  });
});

Deno.test("status, release-logs and quit", async () => {
  await withTempDir(async (dir) => {
    const { hefur, call, stopped } = await commandsFixture(dir);
    try {
      await call("release-torrent", { data: v1Torrent("s").toBase64() });
      const s = await call("status") as StatusResult;
      assert.equal(s.mode, "whitelist");
      assert.equal(s.torrentDir, dir);
      assert.equal(s.torrents, 1);
      assert.equal(s.peers, 0);
      assert.equal(s.pid, Deno.pid);
      assert.ok(s.uptime >= 5 && s.uptime < 60, `uptime ${s.uptime}`);
      assert.deepEqual(s.requests, {
        announces: 0,
        scrapes: 0,
        refused: 0,
        failures: 0,
        webtorrent: { announces: 0, scrapes: 0, failures: 0 },
      });
      assert.deepEqual(await call("release-logs"), { file: undefined });
      assert.deepEqual(await call("quit"), { stopping: true });
      assert.equal(stopped(), "", "quit answers before stopping");
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(stopped(), "quit");
    } finally {
      await hefur.close();
    }
  });
});
