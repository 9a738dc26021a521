// The audit log: every control action, against a live `hefur serve` driven by `hefur ctl`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { auditedHandler, AuditLog, type AuditRecord } from "../src/control/audit.ts";
import { ControlError } from "../src/control/protocol.ts";
import { BARE_SERVE_ARGS, startServe, startTrackerWithCtl, tempDir } from "./process_helpers.ts";
import { makeTorrent } from "./support/torrents.ts";

async function records(path: string): Promise<AuditRecord[]> {
  const text = await Deno.readTextFile(path);
  return text.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("audit: every control action is recorded with time, command, result and hashes", async () => {
  await using tmp = await tempDir();
  const auditPath = join(tmp.path, "audit.jsonl");
  await using server = await startTrackerWithCtl(tmp.path, ["--audit-log", auditPath]);
  const { torrents, ctl } = server;
  const t = makeTorrent("Release 1.0", { version: "hybrid" });
  const file = join(tmp.path, "r.torrent");
  await Deno.writeFile(file, t.bytes);

  const before = Date.now();
  assert.equal((await ctl("release-torrent", file)).code, 0);
  assert.equal((await ctl("release-torrent", file)).code, 1, "a duplicate is refused");
  assert.equal((await ctl("status")).code, 0);
  assert.equal((await ctl("retire-torrent", t.hex)).code, 0);
  assert.equal((await ctl("retire-torrent", "ab".repeat(20))).code, 1);
  assert.equal((await ctl("release-logs")).code, 0);
  assert.equal((await ctl("quit")).code, 0);
  assert.equal((await server.exited).code, 0, server.stderr());

  const r = await records(auditPath);
  assert.deepEqual(r.map((x) => [x.command, x.result]), [
    ["release-torrent", "ok"],
    ["release-torrent", "duplicate"],
    ["retire-torrent", "ok"],
    ["retire-torrent", "not_found"],
    ["release-logs", "ok"],
    ["quit", "ok"],
  ], "status only reads: not audited");
  for (const x of r) {
    const time = Date.parse(x.time);
    assert.ok(time >= before - 1000 && time <= Date.now(), x.time);
    assert.ok(x.ms >= 0);
  }
  const v1 = t.hex;
  const v2 = Array.from(t.v2!, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
  assert.deepEqual(r[0].hashes, [v1, v2]);
  assert.equal(r[0].name, "Release 1.0");
  assert.deepEqual(r[0].files, [join(torrents, "Release 1.0.torrent")]);
  assert.deepEqual(r[1].hashes, [v1, v2], "a refusal names the hashes it would have touched");
  assert.match(r[1].error!, /already tracked/);
  // Retiring by one hash retires both swarms of the hybrid file (wire hashes).
  assert.deepEqual(r[2].hashes.toSorted(), [v1, v2.slice(0, 40)].toSorted());
  assert.deepEqual(r[2].files, [join(torrents, "Release 1.0.torrent")]);
  assert.deepEqual(r[3].hashes, ["ab".repeat(20)]);
  assert.deepEqual(r[4].hashes, []);

  // The audit log origin has them too, at the default --log-level (warning).
  const err = server.stderr();
  assert.match(
    err,
    new RegExp(`audit.*release-torrent ok: hashes ${v1},${v2}, name "Release 1.0"`),
  );
  assert.match(err, /audit.*retire-torrent not_found \(no tracked torrent/);
  assert.match(err, /audit.*quit ok/);
});

Deno.test("audit: a release-logs reopens the file, so an outside rotation is followed", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.path, "audit.jsonl");
  const audit = new AuditLog(path);
  try {
    const handler = auditedHandler(async (cmd) => {
      await Promise.resolve();
      if (cmd === "quit") throw new ControlError("failed", "no");
      return {};
    }, audit);
    await handler("release-logs", {});
    await Deno.rename(path, path + ".1");
    await handler("release-logs", {});
    await assert.rejects(async () => await handler("quit", {}), /no/);
    assert.deepEqual((await records(path + ".1")).map((x) => x.command), ["release-logs"]);
    assert.deepEqual((await records(path)).map((x) => [x.command, x.result]), [
      ["release-logs", "ok"],
      ["quit", "failed"],
    ]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    audit.close();
  }
});

Deno.test("audit: an --audit-log that cannot be opened stops start-up with a clear message", async () => {
  await using tmp = await tempDir();
  await assert.rejects(
    startServe([...BARE_SERVE_ARGS, "--audit-log", join(tmp.path, "missing", "audit.jsonl")]),
    /cannot open the audit log .*missing\/audit\.jsonl/,
  );
});
