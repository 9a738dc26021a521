// Symbolic links cannot lead Hefur where its sandbox denies, nor out of the torrent directory
// unless allowed: links present at start, links appearing while it runs, and links swapped in
// between a check and an open.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encode } from "../src/protocol/bencode.ts";
import type { WhitelistOptions } from "../src/whitelist/whitelist.ts";
import { readTorrentFile } from "../src/whitelist/torrent_file.ts";
import { deniedBy } from "../src/sandbox/deny_lists.ts";
import { type WhitelistFixture, whitelistFixture } from "./support/whitelist_fixture.ts";
import { readKeyPair } from "../src/net/tls.ts";
import { Assets } from "../src/pages/assets.ts";
import { DenyList } from "../src/admission/deny_list.ts";
import { compressFile } from "../src/log/compress.ts";
import { prepareSocketDir } from "../src/control/socket_path.ts";
import {
  LinkRefusedError,
  openAppendSafelySync,
  readFileSafelySync,
  writablePathSync,
} from "../src/sandbox/safe_files.ts";

let serial = 0;

/** A v1 torrent with a unique hash per call. */
function torrent(name = `t${++serial}`): Uint8Array {
  return encode({
    info: {
      name,
      length: 1000 + ++serial,
      "piece length": 16384,
      pieces: new Uint8Array(20).fill(serial & 0xff),
    },
  });
}

function hashOf(t: Uint8Array): string {
  const info = t.subarray(t.indexOf(0x34 /* "4" of "4:info" */) + 6, t.length - 1);
  return String.fromCharCode(...createHash("sha1").update(info).digest());
}

interface Fixture extends WhitelistFixture {
  /** A directory outside the torrent directory, for links to lead into. */
  outside: string;
}

/** A torrent directory, a directory outside it, and a whitelist over the first (not started). */
async function fixture(options: Partial<WhitelistOptions> = {}): Promise<Fixture> {
  const base = await whitelistFixture(options, "hefur-links-");
  const outside = await Deno.makeTempDir({ prefix: "hefur-links-out-" });
  return {
    ...base,
    outside,
    async [Symbol.asyncDispose]() {
      await base[Symbol.asyncDispose]();
      await Deno.remove(outside, { recursive: true });
    },
  };
}

/** A file in a path the sandbox denies for reading, made for the test (tests run as root). */
async function deniedFile(bytes: Uint8Array): Promise<{ path: string } & AsyncDisposable> {
  const dir = "/root/.gnupg";
  assert.equal(deniedBy(dir, "read"), dir, "the test needs /root/.gnupg in the read deny list");
  let made = false;
  try {
    await Deno.mkdir(dir, { mode: 0o700 });
    made = true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const path = `${dir}/hefur-test-${crypto.randomUUID()}.torrent`;
  await Deno.writeFile(path, bytes, { mode: 0o600 });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path);
      if (made) await Deno.remove(dir).catch(() => {});
    },
  };
}

function logged(f: Fixture, pattern: RegExp): boolean {
  return f.logs.some(([, m]) => pattern.test(m));
}

/** Retries `check` until it holds, for at most 5 s. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`not within 5 s: ${what}`);
}

// ---- the torrent directory --------------------------------------------------------------------

Deno.test("links at start: into a denied path never read, outside refused unless allowed", async () => {
  for (const followExternalLinks of [false, true]) {
    await using f = await fixture({ followExternalLinks });
    const secret = torrent();
    await using denied = await deniedFile(secret);
    const out = torrent();
    const inside = torrent();
    await Deno.writeFile(`${f.outside}/out.torrent`, out);
    await Deno.mkdir(`${f.dir}/store`);
    await Deno.writeFile(`${f.dir}/store/in.torrent`, inside);
    await Deno.symlink(denied.path, `${f.dir}/secret.torrent`);
    await Deno.symlink("/etc/shadow", `${f.dir}/shadow.torrent`);
    await Deno.symlink("/root/.gnupg", `${f.dir}/gnupg`);
    await Deno.symlink(`${f.outside}/out.torrent`, `${f.dir}/out.torrent`);
    await Deno.symlink("store/in.torrent", `${f.dir}/in.torrent`);
    await f.whitelist.start();

    assert.equal(f.tracker.get(hashOf(secret)), undefined, "a denied file is never tracked");
    assert.ok(!logged(f, /shadow.*not a valid torrent/), "/etc/shadow was never read");
    assert.ok(
      logged(f, /shadow\.torrent: it leads to \/etc\/shadow, which is under \/etc\/shadow, denied/),
    );
    assert.ok(
      logged(f, /gnupg: it leads to \/root\/\.gnupg, which is under \/root\/\.gnupg, denied/),
    );
    assert.deepEqual(f.whitelist.pathsOf(hashOf(inside)), [
      `${f.dir}/in.torrent`,
      `${f.dir}/store/in.torrent`,
    ]);
    if (followExternalLinks) {
      assert.deepEqual(f.whitelist.pathsOf(hashOf(out)), [`${f.dir}/out.torrent`]);
    } else {
      assert.equal(f.tracker.get(hashOf(out)), undefined);
      assert.ok(logged(f, /out\.torrent leads to .*, outside the torrent directory/));
    }
  }
});

Deno.test("links appearing while running take effect like files, and are judged the same", async () => {
  await using f = await fixture({ watch: true, followExternalLinks: true, linkPollMs: 50 });
  await Deno.mkdir(`${f.dir}/sub`);
  await f.whitelist.start();
  const secret = torrent();
  await using denied = await deniedFile(secret);
  const out = torrent();
  await Deno.writeFile(`${f.outside}/out.torrent`, out);
  // Deno.watchFs reports none of these links: they lead outside the watched directory.
  await Deno.symlink(`${f.outside}/out.torrent`, `${f.dir}/sub/out.torrent`);
  await Deno.symlink(denied.path, `${f.dir}/secret.torrent`);
  await Deno.symlink("/etc/shadow", `${f.dir}/sub/shadow.torrent`);
  await eventually(
    "the link to an outside file is tracked",
    () => f.tracker.get(hashOf(out)) !== undefined,
  );
  await eventually(
    "the link to /etc/shadow is refused",
    () =>
      logged(f, /shadow\.torrent: it leads to \/etc\/shadow, which is under \/etc\/shadow, denied/),
  );
  await eventually(
    "the link into /root/.gnupg is refused",
    () =>
      logged(
        f,
        /secret\.torrent: it leads to \/root\/\.gnupg\/.*, which is under \/root\/\.gnupg, denied/,
      ),
  );
  assert.equal(f.tracker.get(hashOf(secret)), undefined);
  assert.ok(!logged(f, /not a valid torrent/), "nothing denied was read");

  // A link changed to lead elsewhere is looked at again; one removed is forgotten.
  const other = torrent();
  await Deno.writeFile(`${f.outside}/other.torrent`, other);
  await Deno.remove(`${f.dir}/secret.torrent`);
  await Deno.symlink(`${f.outside}/other.torrent`, `${f.dir}/secret.torrent`);
  await eventually("the changed link is tracked", () => f.tracker.get(hashOf(other)) !== undefined);
  await Deno.remove(`${f.dir}/sub/out.torrent`);
  await eventually("the removed link is forgotten", () => f.tracker.get(hashOf(out)) === undefined);
});

Deno.test("a link outside appearing while running is refused by default", async () => {
  await using f = await fixture({ watch: true, linkPollMs: 50 });
  await f.whitelist.start();
  const out = torrent();
  await Deno.writeFile(`${f.outside}/out.torrent`, out);
  await Deno.symlink(`${f.outside}/out.torrent`, `${f.dir}/out.torrent`);
  await eventually(
    "the link is refused",
    () => logged(f, /out\.torrent leads to .*, outside the torrent directory/),
  );
  assert.equal(f.tracker.get(hashOf(out)), undefined);
});

Deno.test("a link made in the same clock tick as the last look is still seen", async () => {
  await using f = await fixture({ watch: true, followExternalLinks: true, linkPollMs: 50 });
  // A directory outside, entered through a link: the watcher does not see into it, only the
  // look for new links does.
  const away = `${f.outside}/away`;
  await Deno.mkdir(away);
  await Deno.symlink(away, `${f.dir}/away`);
  // A link made within one tick of the file system clock leaves the directory's modification
  // time as it was. Pinning it (a minute ahead, so the race window cannot pass however slow the
  // machine is) makes that race happen every time.
  const pinned = new Date(Date.now() + 60_000);
  await Deno.utime(away, pinned, pinned);
  await f.whitelist.start();
  const out = torrent();
  await Deno.writeFile(`${f.outside}/out.torrent`, out);
  await Deno.symlink(`${f.outside}/out.torrent`, `${away}/out.torrent`);
  await Deno.utime(away, pinned, pinned);
  assert.equal((await Deno.stat(away)).mtime?.getTime(), pinned.getTime());
  await eventually("the link is tracked", () => f.tracker.get(hashOf(out)) !== undefined);
});

Deno.test("a link to / costs one entry and tracks nothing from outside", async () => {
  await using f = await fixture({ maxScanInodes: 100_000 });
  const out = torrent();
  await Deno.writeFile(`${f.outside}/out.torrent`, out);
  const a = torrent();
  await Deno.writeFile(`${f.dir}/a.torrent`, a);
  await Deno.symlink("/", `${f.dir}/root`);
  const report = await f.whitelist.start();
  assert.equal(report.entries, 2);
  assert.equal(report.truncated, false);
  assert.equal(report.files, 1);
  assert.deepEqual(f.whitelist.pathsOf(hashOf(a)), [`${f.dir}/a.torrent`]);
  assert.equal(f.tracker.get(hashOf(out)), undefined);
  assert.ok(logged(f, /root leads to \/, outside the torrent directory/));
  // And every later walk the same.
  assert.equal((await f.whitelist.scanNow()).entries, 2);
});

Deno.test("a link to / with --follow-external-links is walked once, never into denied paths", async () => {
  await using f = await fixture({
    followExternalLinks: true,
    maxScanInodes: 2000,
    maxScanDepth: 2,
  });
  await Deno.symlink("/", `${f.dir}/root`);
  await Deno.symlink(`${f.dir}`, `${f.dir}/self`);
  const report = await f.whitelist.start();
  assert.ok(logged(f, /root\/proc: it leads to \/proc, which is under \/proc, denied/));
  assert.ok(logged(f, /directory link\(s\) to already scanned directories/), "loops are cut");
  assert.ok(report.entries < 2000);
});

Deno.test("a torrent file swapped for a link after it was resolved is not read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-links-swap-" });
  try {
    await Deno.writeFile(`${dir}/real.torrent`, torrent());
    // What a walk resolved as a real file is now a link.
    await Deno.remove(`${dir}/real.torrent`);
    await Deno.symlink("/etc/shadow", `${dir}/real.torrent`);
    await assert.rejects(readTorrentFile(`${dir}/real.torrent`, 1 << 20), LinkRefusedError);
    // A directory on the way swapped for a link: the real path no longer resolves to itself.
    await Deno.mkdir(`${dir}/d`);
    await Deno.writeFile(`${dir}/elsewhere.torrent`, torrent());
    await Deno.remove(`${dir}/d`);
    await Deno.symlink(dir, `${dir}/d`);
    await assert.rejects(readTorrentFile(`${dir}/d/elsewhere.torrent`, 1 << 20), LinkRefusedError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- files Hefur reads and writes ---------------------------------------------------------------

Deno.test("configured files: reads through links into denied paths and writes through links are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-links-files-" });
  const outside = await Deno.makeTempDir({ prefix: "hefur-links-target-" });
  try {
    await Deno.symlink("/etc/shadow", `${dir}/cert.pem`);
    assert.throws(() => readFileSafelySync(`${dir}/cert.pem`, 1 << 20), LinkRefusedError);
    await Deno.symlink("/root/.gnupg", `${dir}/www`);
    assert.throws(() => readFileSafelySync(`${dir}/www/x`, 1 << 20), /NotFound|LinkRefused/);

    // A link at a file Hefur writes: refused, and the target is untouched.
    await Deno.writeTextFile(`${outside}/target`, "original");
    await Deno.symlink(`${outside}/target`, `${dir}/hefur.log`);
    assert.throws(() => openAppendSafelySync(`${dir}/hefur.log`, 0o640), LinkRefusedError);
    assert.throws(() => writablePathSync(`${dir}/hefur.log`), /symbolic link/);
    assert.equal(await Deno.readTextFile(`${outside}/target`), "original");
    // A dangling link, whose target does not exist yet, is refused as well and creates nothing.
    await Deno.symlink(`${outside}/new`, `${dir}/state`);
    assert.throws(() => writablePathSync(`${dir}/state`), /symbolic link/);
    await assert.rejects(Deno.lstat(`${outside}/new`), Deno.errors.NotFound);
    // A directory on the way leading into /etc: refused before anything is created.
    await Deno.symlink("/etc", `${dir}/etc`);
    assert.throws(
      () => writablePathSync(`${dir}/etc/hefur/hefur.log`),
      /leads to \/etc\/hefur\/hefur\.log, which is under \/etc, denied for writing/,
    );
    // A plain file opens, and appends.
    const { file, real } = openAppendSafelySync(`${dir}/plain.log`, 0o640);
    file.writeSync(new TextEncoder().encode("x"));
    file.close();
    assert.equal(real, `${await Deno.realPath(dir)}/plain.log`);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("certificate, key, www directory and deny file: never read through a link into a denied path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-links-read-" });
  try {
    await Deno.symlink("/etc/shadow", `${dir}/key.pem`);
    await Deno.symlink("/etc/ssh", `${dir}/www`);
    await Deno.symlink("/etc/shadow", `${dir}/deny.txt`);
    const denied =
      /leads to \/etc\/(shadow|ssh), which is under \/etc\/(shadow|ssh), denied for reading/;
    assert.throws(() => readKeyPair(`${dir}/key.pem`, `${dir}/key.pem`), denied);
    assert.throws(() => new Assets(`${dir}/www`), (e: Error) => denied.test(e.message));
    const list = new DenyList({ networks: [], file: `${dir}/deny.txt`, pollMs: 60_000 });
    await assert.rejects(list.start(), denied);
    await list.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log rotation compresses neither from nor into a link", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-links-gz-" });
  try {
    await Deno.writeTextFile(`${dir}/target`, "original");
    await Deno.symlink(`${dir}/target`, `${dir}/old.log`);
    await assert.rejects(compressFile(`${dir}/old.log`, "gzip"), LinkRefusedError);
    await Deno.writeTextFile(`${dir}/real.log`, "lines\n");
    await Deno.symlink(`${dir}/target`, `${dir}/real.log.gz`);
    await assert.rejects(compressFile(`${dir}/real.log`, "gzip"), /symbolic link/);
    assert.equal(await Deno.readTextFile(`${dir}/target`), "original");
    assert.equal(await Deno.readTextFile(`${dir}/real.log`), "lines\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a control socket directory that is a link, or leads into /etc, is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-links-sock-" });
  try {
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${dir}/run`);
    await assert.rejects(prepareSocketDir(`${dir}/run/control`), /is not a directory/);
    await Deno.symlink("/etc", `${dir}/etc`);
    await assert.rejects(
      prepareSocketDir(`${dir}/etc/hefur-test-absent/control`),
      /which is under \/etc, denied for writing/,
    );
    await assert.rejects(Deno.lstat("/etc/hefur-test-absent"), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
