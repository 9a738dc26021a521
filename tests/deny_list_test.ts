import { strict as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  DENY_FILE_LIMITS,
  DenyFileError,
  DenyList,
  parseDenyFile,
} from "../src/admission/deny_list.ts";
import { DENIED_REASON } from "../src/admission/admission.ts";
import { encodeUdpRequest, parseUdpReply } from "../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../src/protocol/types.ts";
import { freePort, httpBase, startTestHefur } from "./helpers.ts";
import { failureOf, httpAnnounce, httpScrape, UdpClient, WsClient } from "./support/clients.ts";
import { BARE_SERVE_ARGS, startServe, tempDir } from "./process_helpers.ts";

const HASH = "\x6b".repeat(20);

Deno.test("deny file: comments, blank lines, one network per line; bad lines are named", () => {
  assert.deepEqual(
    parseDenyFile("# header\n\n10.0.0.0/8 # office\n  2001:db8::/32\r\n192.0.2.1\n", "f"),
    ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"],
  );
  assert.throws(
    () => parseDenyFile("10.0.0.0/8\nexample.org\n", "/etc/deny"),
    (e) =>
      e instanceof DenyFileError && e.line === 2 && /\/etc\/deny:2: .*example\.org/.test(e.message),
  );
  assert.ok(DENY_FILE_LIMITS.maxEntries >= 100_000, "a real blocklist fits");
});

Deno.test("HTTP: --deny-from refuses announces and scrapes with a clear reason; others pass", async () => {
  await using hefur = await startTestHefur({ denyFrom: ["127.0.0.0/8"] });
  const base = httpBase(hefur);
  const reply = await httpAnnounce(base, { infoHash: HASH, port: 7000, event: "started" });
  assert.equal(failureOf(reply), DENIED_REASON);
  assert.equal(reply.get("retry in"), undefined, "no point retrying");
  assert.equal(failureOf(await httpScrape(base, HASH)), DENIED_REASON);
  assert.equal(hefur.tracker.get(HASH), undefined, "nothing reached the core");
  assert.equal(hefur.admission.counters.denied, 2);
  // Pages stay readable: the deny list is about the tracker.
  const stat = await fetch(`${base}/stat`);
  assert.equal(stat.status, 200);
  await stat.body?.cancel();
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^hefur_admission_refused_total\{reason="denied"\} 2$/m);

  // A network that is not listed is served.
  await using other = await startTestHefur({ denyFrom: ["10.0.0.0/8", "2001:db8::/32"] });
  const ok = await httpAnnounce(httpBase(other), { infoHash: HASH, port: 7000, event: "started" });
  assert.equal(failureOf(ok), undefined);
});

Deno.test("UDP: a denied network gets an error packet, never larger than its request", async () => {
  await using hefur = await startTestHefur({
    httpPort: 0,
    udpPort: freePort("udp"),
    denyFrom: ["127.0.0.1"],
  });
  using client = new UdpClient(hefur.udp!.addr.port);
  const connect = encodeUdpRequest({ kind: "connect", transactionId: 99 }).slice();
  const raw = await client.exchange(connect);
  assert.ok(
    raw.length <= connect.length,
    `${raw.length} bytes for a ${connect.length}-byte request`,
  );
  const reply = parseUdpReply(raw);
  assert.equal(reply.kind, "error");
  assert.equal(reply.transactionId, 99);
  if (reply.kind === "error") assert.equal(reply.message, "denied");
  assert.equal(hefur.udp!.counters.refused, 1);
});

Deno.test("UDP: a network denied after it connected gets the reason on its announce", async () => {
  // Driven through the listener's handler, so the source can be any address.
  await using tmp = await tempDir();
  const file = join(tmp.path, "deny.txt");
  await Deno.writeTextFile(file, "192.0.2.0/24\n");
  await using hefur = await startTestHefur({
    httpPort: 0,
    udpPort: freePort("udp"),
    denyFile: file,
  });
  const udp = hefur.udp!;
  const out = new Uint8Array(4096);
  const source = "198.51.100.7";
  const n = udp.handle(encodeUdpRequest({ kind: "connect", transactionId: 1 }), source, out);
  const r = parseUdpReply(out.slice(0, n));
  if (r.kind !== "connect") throw new Error("expected a connection id");
  const announce = encodeUdpRequest({
    kind: "announce",
    connectionIdHi: r.connectionIdHi,
    connectionIdLo: r.connectionIdLo,
    transactionId: 2,
    infoHash: HASH,
    peerId: "p".repeat(20),
    downloaded: 0,
    left: 1,
    uploaded: 0,
    event: AnnounceEvent.Started,
    ip: 0,
    key: 0,
    numwant: -1,
    port: 6881,
  }).slice();
  assert.equal(parseUdpReply(out.slice(0, udp.handle(announce, source, out))).kind, "announce");

  await Deno.writeTextFile(file, "198.51.100.0/24\n");
  await hefur.admission.deny.check();
  const refused = parseUdpReply(out.slice(0, udp.handle(announce, source, out)));
  assert.equal(refused.kind, "error");
  if (refused.kind === "error") assert.equal(refused.message, DENIED_REASON);
  const again = parseUdpReply(
    out.slice(0, udp.handle(encodeUdpRequest({ kind: "connect", transactionId: 3 }), source, out)),
  );
  assert.equal(again.kind, "error", "and no new connection id");
});

Deno.test("WebSocket: a denied network cannot upgrade", async () => {
  await using hefur = await startTestHefur({ denyFrom: ["127.0.0.1"] });
  await assert.rejects(WsClient.open(`ws://127.0.0.1:${hefur.http!.addr.port}/announce`));
  const res = await fetch(`${httpBase(hefur)}/announce`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  assert.equal(res.status, 403);
  assert.equal((await res.text()).trim(), DENIED_REASON);
});

Deno.test("--deny-file is read at start and reloaded when it changes; a bad edit keeps the old list", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "deny.txt");
  await Deno.writeTextFile(file, "# nobody yet\n192.0.2.0/24\n");
  await using hefur = await startTestHefur({ denyFile: file, denyFrom: ["198.51.100.1"] });
  const base = httpBase(hefur);
  const deny = hefur.admission.deny;
  const announce = async () =>
    failureOf(await httpAnnounce(base, { infoHash: HASH, port: 7000, event: "started" }));
  assert.equal(await announce(), undefined);
  assert.equal(deny.has("192.0.2.9"), true);
  assert.equal(deny.has("198.51.100.1"), true, "--deny-from stays with the file's networks");

  // Denying loopback: the next check of the file (forced here, instead of waiting for the poll)
  // applies it.
  await Deno.writeTextFile(file, "192.0.2.0/24\n127.0.0.0/8 # us\n");
  await deny.check();
  assert.equal(await announce(), DENIED_REASON);
  assert.equal(deny.reloads, 2);

  // A broken edit is refused as a whole: loopback stays denied.
  await Deno.writeTextFile(file, "127.0.0.0/8\nnot-a-network\n");
  await deny.check();
  assert.equal(deny.reloadFailures, 1);
  assert.equal(await announce(), DENIED_REASON);
  // Removing the file keeps the list too (an editor may be replacing it).
  await Deno.remove(file);
  await deny.check();
  assert.equal(await announce(), DENIED_REASON);
  // Fixed: loopback is served again.
  await Deno.writeTextFile(file, "192.0.2.0/24\n");
  await deny.check();
  assert.equal(await announce(), undefined);
  assert.equal(deny.has("127.0.0.1"), false);
});

Deno.test("--deny-file is polled on its own", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "deny.txt");
  await Deno.writeTextFile(file, "192.0.2.0/24\n");
  const deny = new DenyList({ networks: [], file, pollMs: 20 });
  await deny.start();
  try {
    assert.equal(deny.has("10.1.1.1"), false);
    await Deno.writeTextFile(file, "10.0.0.0/8\n");
    for (let i = 0; i < 200 && !deny.has("10.1.1.1"); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(deny.has("10.1.1.1"), true);
    assert.equal(deny.has("192.0.2.1"), false);
  } finally {
    await deny.close();
  }
});

Deno.test("a --deny-file that is missing or bad stops start-up with the reason", async () => {
  await using tmp = await tempDir();
  const bad = join(tmp.path, "deny.txt");
  await Deno.writeTextFile(bad, "10.0.0.0/8\n10.0.0.0/99\n");
  await assert.rejects(
    startServe([...BARE_SERVE_ARGS, "--deny-file", bad]),
    /deny\.txt:2: .*10\.0\.0\.0\/99/,
  );
  await assert.rejects(
    startServe([...BARE_SERVE_ARGS, "--deny-file", join(tmp.path, "none")]),
    /cannot read the deny file .*none/,
  );
  await assert.rejects(
    startServe([...BARE_SERVE_ARGS, "--deny-from", "10.0.0.0/40"]),
    /--deny-from: not an IP address or CIDR network: "10\.0\.0\.0\/40"/,
  );
});
