// Request framing on a live Hefur, over raw TCP: every head that a proxy in front could read
// differently from Hefur (RFC 9112 §6.3 and §5) gets exactly one 400 and the connection closed, so
// that an announce hidden after it is never carried out.
import assert from "node:assert/strict";
import { pct, rawHttp, startTestHefur } from "./helpers.ts";

const HASH = "\x07".repeat(20);
const HIDDEN = `GET /announce?info_hash=${
  pct(HASH)
}&peer_id=-TT0001-hiddenhidden&port=6881&left=0 HTTP/1.1\r\nHost: x\r\n\r\n`;

/** Status lines in what the server sent. */
function statuses(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
}

/** A page request with `headers`, the hidden announce right behind it as its "body". */
function smuggling(headers: string, body = HIDDEN): string {
  return `GET /stat HTTP/1.1\r\nHost: x\r\n${headers}\r\n\r\n${body}`;
}

Deno.test("ambiguous Content-Length or any Transfer-Encoding: one 400, closed, nothing hidden is run", async () => {
  await using hefur = await startTestHefur();
  const port = hefur.http!.addr.port;
  const n = HIDDEN.length;
  for (
    const headers of [
      `Content-Length: 0\r\nContent-Length: ${n}`,
      `Content-Length: ${n}\r\nContent-Length: 0`,
      `Content-Length: ${n}\r\nContent-Length: ${n}`,
      "Content-Length: abc",
      "Content-Length: -1",
      `Content-Length: +${n}`,
      `Content-Length: ${n}, ${n}`,
      `Content-Length: 0, ${n}`,
      "Content-Length: 0x10",
      "Content-Length: 1 0",
      "Content-Length: 99999999999999999999",
      `Transfer-Encoding: chunked\r\nContent-Length: ${n}`,
      `Content-Length: ${n}\r\nTransfer-Encoding: chunked`,
      "Transfer-Encoding: chunked",
      "Transfer-Encoding: identity",
      "Transfer-Encoding: gzip, chunked",
      `Content-Length : ${n}`,
      `Transfer-Encoding : chunked`,
      ` Content-Length: ${n}`,
      `X-A: 1\r\n Content-Length: ${n}`,
      `X-A: 1\r\n\tTransfer-Encoding: chunked`,
      `X-A: a\x00b`,
      `X-A: a\rContent-Length: ${n}`,
      `Content-Length\x0b: ${n}`,
    ]
  ) {
    const reply = await rawHttp(port, smuggling(headers));
    assert.deepEqual(statuses(reply), ["400"], JSON.stringify(headers));
    assert.match(reply, /connection: close\r\n/);
  }
  assert.equal(hefur.tracker.get(HASH), undefined, "the hidden announce was carried out");
});

Deno.test("a valid body is refused with 413 and never read as a request", async () => {
  await using hefur = await startTestHefur();
  const reply = await rawHttp(
    hefur.http!.addr.port,
    smuggling(`Content-Length: ${HIDDEN.length}`),
  );
  assert.deepEqual(statuses(reply), ["413"]);
  assert.equal(hefur.tracker.get(HASH), undefined);
  // Content-Length: 0 (even written 00) is no body: the request is answered, and a pipelined
  // request after it is served as the next request, as HTTP/1.1 means.
  const ok = await rawHttp(hefur.http!.addr.port, smuggling("Content-Length: 00"));
  assert.deepEqual(statuses(ok), ["200", "200"]);
  assert.notEqual(hefur.tracker.get(HASH), undefined);
});

Deno.test("bare-LF heads and impossible request lines are refused at once, not at the timeout", async () => {
  // A timeout far longer than the test: a refusal can only come from reading the head.
  await using hefur = await startTestHefur({ httpTimeout: 60_000 });
  const port = hefur.http!.addr.port;
  for (
    const request of [
      "GET /stat HTTP/1.1\nHost: x\n\n",
      "GET /stat HTTP/1.1\r\nHost: x\n\n",
      "GET /stat HTTP/1.1\r\nHost: x\r\n\n",
      "\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
      "get /stat HTTP/1.1\r\n",
      "GETTTTTTTTTTTTTTTTTTT /stat HTTP/1.1\r\n",
      "GET\t/stat HTTP/1.1\r\n",
    ]
  ) {
    const reply = await rawHttp(port, request);
    assert.deepEqual(statuses(reply), ["400"], JSON.stringify(request));
  }
  // A head larger than the server reads (a request line of 10 KB) gets 431 and is closed.
  const long = await rawHttp(port, `GET /${"a".repeat(10_000)} HTTP/1.1\r\n\r\n`);
  assert.deepEqual(statuses(long), ["431"]);
});

Deno.test("one keep-alive connection is served at most 32 requests, then closed", async () => {
  await using hefur = await startTestHefur();
  const request = "GET /stat HTTP/1.1\r\nHost: x\r\n\r\n";
  const reply = await rawHttp(hefur.http!.addr.port, request.repeat(100));
  const sent = statuses(reply);
  assert.equal(sent.length, 32);
  assert.ok(sent.every((s) => s === "200"));
  assert.equal(reply.match(/connection: keep-alive\r\n/g)?.length, 31);
  assert.equal(reply.match(/connection: close\r\n/g)?.length, 1);
});
