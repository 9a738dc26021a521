// One validation of announce fields for every listener: port 0 is never taken (no peer can be
// reached there), and a count (left, uploaded, downloaded) must be a whole number from 0 to
// 2^63 - 1, the range of BEP 15's int64, whether it came over HTTP, UDP or WebSocket.
import assert from "node:assert/strict";
import {
  aboveInt64,
  announceError,
  countFromJson,
  OUT_OF_RANGE,
} from "../src/protocol/announce_check.ts";
import { parseUdpReply } from "../src/protocol/udp_packet.ts";
import { req } from "./support/announce_requests.ts";
import {
  failureOf,
  httpAnnounce,
  UdpClient,
  udpStartedAnnounce,
  WsClient,
} from "./support/clients.ts";
import { freePort, httpBase, startTestHefur } from "./helpers.ts";

const HASH = "\x05".repeat(20);

Deno.test("the shared rules: port 0 and counts out of int64 range are refused", () => {
  assert.equal(announceError(req({ port: 6881 })), undefined);
  assert.match(announceError(req({ port: 0 }))!, /^invalid port: 0/);
  assert.match(announceError(req({ left: OUT_OF_RANGE }))!, /^invalid left/);
  assert.match(announceError(req({ uploaded: OUT_OF_RANGE }))!, /^invalid uploaded/);
  assert.match(announceError(req({ downloaded: OUT_OF_RANGE }))!, /^invalid downloaded/);
  assert.equal(aboveInt64("9223372036854775807"), false);
  assert.equal(aboveInt64("09223372036854775807"), false);
  assert.equal(aboveInt64("9223372036854775808"), true);
  assert.equal(aboveInt64("10000000000000000000"), true);
  assert.equal(countFromJson(0), 0);
  assert.equal(countFromJson("12"), 12);
  assert.equal(countFromJson(2 ** 60), Number.MAX_SAFE_INTEGER);
  for (const bad of [-1, "-1", 2 ** 63, "9223372036854775808", 1.5, "x", true, {}, [1]]) {
    assert.equal(countFromJson(bad), OUT_OF_RANGE, JSON.stringify(bad));
  }
});

Deno.test("HTTP: port 0 and left above 2^63 - 1 are refused; 2^63 - 1 is taken", async () => {
  await using hefur = await startTestHefur();
  const base = httpBase(hefur);
  assert.match(failureOf(await httpAnnounce(base, { infoHash: HASH, port: 0 }))!, /^invalid port/);
  const over = await fetch(
    `${base}/announce?info_hash=${"%05".repeat(20)}&peer_id=${"p".repeat(20)}&port=6881` +
      `&left=9223372036854775808`,
  );
  assert.match(await over.text(), /invalid left: not a whole number from 0 to 2\^63-1/);
  assert.equal(hefur.tracker.get(HASH), undefined, "a refused announce reached the core");
  const max = await fetch(
    `${base}/announce?info_hash=${"%05".repeat(20)}&peer_id=${"p".repeat(20)}&port=6881` +
      `&left=9223372036854775807`,
  );
  assert.doesNotMatch(await max.text(), /failure/);
  assert.equal(hefur.tracker.get(HASH)!.swarm.incomplete, 1);
});

Deno.test("UDP: port 0 and negative int64 counts get an error packet and reach nothing", async () => {
  const udpPort = freePort("udp");
  await using hefur = await startTestHefur({ udpPort });
  using client = new UdpClient(udpPort);
  const id = await client.connect();
  assert.ok(Array.isArray(id));
  const announce = (port: number, left: bigint, uploaded = 0n) => {
    const bytes = udpStartedAnnounce(id, {
      transactionId: 9,
      infoHash: HASH,
      peerId: "-TT0001-udpudpudpudp",
      port,
    });
    new DataView(bytes.buffer).setBigUint64(64, left);
    new DataView(bytes.buffer).setBigUint64(72, uploaded);
    return bytes;
  };
  for (
    const [bytes, reason] of [
      [announce(0, 10n), /^invalid port: 0/],
      [announce(6881, 2n ** 63n), /^invalid left/],
      [announce(6881, 10n, 2n ** 64n - 1n), /^invalid uploaded/],
    ] as const
  ) {
    const raw = await client.exchange(bytes);
    assert.ok(raw.length <= bytes.length);
    const reply = parseUdpReply(raw);
    assert.equal(reply.kind, "error", String(reason));
    if (reply.kind === "error") assert.match(reply.message, reason);
  }
  assert.equal(hefur.tracker.get(HASH), undefined, "a refused announce reached the core");
  assert.equal(
    parseUdpReply(await client.exchange(announce(6881, 2n ** 63n - 1n))).kind,
    "announce",
  );
});

Deno.test("WebSocket: left of -1, 2^63 or a non-number is refused as HTTP refuses it", async () => {
  await using hefur = await startTestHefur();
  const ws = await WsClient.open(`ws://127.0.0.1:${hefur.http!.addr.port}/announce`);
  try {
    const msg = (left: unknown) => ({
      action: "announce",
      info_hash: HASH,
      peer_id: "w".repeat(20),
      numwant: 0,
      left,
      event: "started",
      offers: [],
    });
    for (const left of [-1, 2 ** 63, "abc"]) {
      ws.send(msg(left));
      const reply = await ws.next();
      assert.match(String(reply["failure reason"]), /^invalid left/, JSON.stringify(left));
    }
    assert.equal(hefur.wsTracker.get(HASH), undefined, "a refused announce reached the core");
    ws.send(msg(10));
    assert.equal((await ws.next())["failure reason"], undefined);
    assert.notEqual(hefur.wsTracker.get(HASH), undefined);
  } finally {
    await ws.close();
  }
});
