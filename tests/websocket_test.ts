// RFC 6455 framing: the handshake, the frame reader (masks, lengths, fragments, control frames,
// every rule it enforces) and the server frame encoder.
import assert from "node:assert/strict";
import {
  acceptKey,
  checkHandshake,
  CloseCode,
  encodeClose,
  encodeFrame,
  encodeText,
  FrameReader,
  HandshakeError,
  Opcode,
  type WebSocketEvent,
  WebSocketProtocolError,
} from "../src/protocol/websocket_frame.ts";

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
const enc = new TextEncoder();

function reader(maxMessageBytes = 1 << 20, fromClient = true) {
  return new FrameReader({ maxMessageBytes, fromClient });
}

function protocolError(code: CloseCode) {
  return (e: unknown) => e instanceof WebSocketProtocolError && e.code === code;
}

/** A deterministic pseudo-random generator, so failures can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

Deno.test("accept key: the RFC 6455 example", () => {
  assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("handshake: a valid upgrade gives the accept key; each fault is named", () => {
  const good = new Map([
    ["upgrade", "WebSocket"],
    ["connection", "keep-alive, Upgrade"],
    ["sec-websocket-version", "13"],
    ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="],
  ]);
  assert.equal(checkHandshake("GET", good), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const without = (name: string, value?: string) => {
    const h = new Map(good);
    if (value === undefined) h.delete(name);
    else h.set(name, value);
    return h;
  };
  const fails = (method: string, h: Map<string, string>, status: number, re: RegExp) =>
    assert.throws(
      () => checkHandshake(method, h),
      (e) => e instanceof HandshakeError && e.status === status && re.test(e.message),
    );
  fails("POST", good, 400, /GET/);
  fails("GET", without("upgrade", "h2c"), 400, /Upgrade/);
  fails("GET", without("connection", "keep-alive"), 400, /Connection/);
  fails("GET", without("sec-websocket-version", "8"), 426, /version/i);
  fails("GET", without("sec-websocket-version"), 426, /version/i);
  fails("GET", without("sec-websocket-key"), 400, /Key/);
  fails("GET", without("sec-websocket-key", "short=="), 400, /Key/);
});

Deno.test("encoder: lengths use the 7-bit, 16-bit and 64-bit forms, server frames unmasked", () => {
  for (const [n, header] of [[0, 2], [125, 2], [126, 4], [65535, 4], [65536, 10]]) {
    const f = encodeFrame(Opcode.Binary, new Uint8Array(n).fill(7));
    assert.equal(f.length, header + n, `length ${n}`);
    assert.equal(f[0], 0x82);
    assert.equal(f[1] & 0x80, 0, "no mask bit");
    const back = reader(1 << 20, false).push(f);
    assert.equal(back.length, 1);
    assert.equal((back[0] as { data: Uint8Array }).data.length, n);
  }
  assert.deepEqual([...encodeText("hi")], [0x81, 2, 0x68, 0x69]);
});

Deno.test("reader: masked client frames round-trip, whatever the chunking", () => {
  const next = rng(42);
  for (let round = 0; round < 60; round++) {
    const size = Math.floor(next() * (round % 3 === 0 ? 70000 : 300));
    const text = Array.from({ length: size }, () => String.fromCharCode(32 + (next() * 90 | 0)))
      .join("") + "é✓";
    const mask = new Uint8Array(4).map(() => next() * 256);
    const frame = encodeText(text, mask);
    const r = reader();
    const events: WebSocketEvent[] = [];
    for (let at = 0; at < frame.length;) {
      const step = 1 + Math.floor(next() * 5000);
      events.push(...r.push(frame.subarray(at, at + step)));
      at += step;
    }
    assert.deepEqual(events, [{ kind: "text", text }]);
    assert.equal(r.buffered, 0);
  }
});

Deno.test("reader: byte-by-byte feeding yields each event once, in order", () => {
  const bytes = [
    ...encodeFrame(Opcode.Text, enc.encode("one"), MASK),
    ...encodeFrame(Opcode.Ping, enc.encode("p"), MASK),
    ...encodeFrame(Opcode.Binary, new Uint8Array([1, 2, 3]), MASK),
  ];
  const r = reader();
  const events = bytes.flatMap((b) => r.push(new Uint8Array([b])));
  assert.deepEqual(events, [
    { kind: "text", text: "one" },
    { kind: "ping", data: enc.encode("p") },
    { kind: "binary", data: new Uint8Array([1, 2, 3]) },
  ]);
  assert.equal(r.frames, 3);
});

Deno.test("reader: fragmented messages are reassembled, with control frames between fragments", () => {
  const r = reader();
  const events = r.push(
    new Uint8Array([
      ...encodeFrame(Opcode.Text, enc.encode("hel"), MASK, false),
      ...encodeFrame(Opcode.Ping, enc.encode("x"), MASK),
      ...encodeFrame(Opcode.Continuation, enc.encode("lo "), MASK, false),
      // A multi-byte character split across fragments.
      ...encodeFrame(Opcode.Continuation, enc.encode("wörld").subarray(0, 2), MASK, false),
      ...encodeFrame(Opcode.Continuation, enc.encode("wörld").subarray(2), MASK, true),
    ]),
  );
  assert.deepEqual(events, [
    { kind: "ping", data: enc.encode("x") },
    { kind: "text", text: "hello wörld" },
  ]);
});

Deno.test("reader: close frames carry their code and reason; bytes after them are ignored", () => {
  const r = reader();
  const events = r.push(
    new Uint8Array([
      ...encodeClose(1000, "bye", MASK),
      ...encodeFrame(Opcode.Text, enc.encode("late"), MASK),
    ]),
  );
  assert.deepEqual(events, [{ kind: "close", code: 1000, reason: "bye" }]);
  assert.deepEqual(reader().push(encodeFrame(Opcode.Close, new Uint8Array(), MASK)), [
    { kind: "close", code: CloseCode.NoStatus, reason: "" },
  ]);
});

Deno.test("reader: framing faults are refused with the right close code", () => {
  const frame = (b0: number, b1: number, ...rest: number[]) => new Uint8Array([b0, b1, ...rest]);
  const cases: [string, Uint8Array, CloseCode][] = [
    ["unmasked client frame", encodeText("hi"), CloseCode.ProtocolError],
    ["reserved bit (compression never agreed)", frame(0xc1, 0x80, 1, 2, 3, 4), 1002],
    ["unknown opcode", frame(0x83, 0x80, 1, 2, 3, 4), 1002],
    ["fragmented ping", frame(0x09, 0x80, 1, 2, 3, 4), 1002],
    ["control frame over 125 bytes", frame(0x89, 0xfe, 0, 126), 1002],
    ["continuation first", encodeFrame(Opcode.Continuation, new Uint8Array(1), MASK), 1002],
    ["close of one byte", encodeFrame(Opcode.Close, new Uint8Array([3]), MASK), 1002],
    ["close code 1005 sent on the wire", encodeClose(1005, "", MASK), 1002],
    ["close code 999", encodeClose(999, "", MASK), 1002],
    ["invalid UTF-8 text", encodeFrame(Opcode.Text, new Uint8Array([0xc3, 0x28]), MASK), 1007],
    [
      "invalid UTF-8 close reason",
      encodeFrame(Opcode.Close, new Uint8Array([3, 232, 0xff]), MASK),
      1007,
    ],
  ];
  for (const [name, bytes, code] of cases) {
    assert.throws(() => reader().push(bytes), protocolError(code), name);
  }
  // A new message while a fragmented one is open.
  const r = reader();
  r.push(encodeFrame(Opcode.Text, enc.encode("a"), MASK, false));
  assert.throws(() => r.push(encodeFrame(Opcode.Text, enc.encode("b"), MASK)), protocolError(1002));
  // A server frame must not be masked.
  assert.throws(() => reader(100, false).push(encodeText("x", MASK)), protocolError(1002));
});

Deno.test("reader: a message too large is refused from its header, before its payload", () => {
  // Only the 10-byte header of a 1 GiB frame: refused at once, nothing buffered for it.
  const header = new Uint8Array([0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0]);
  assert.throws(() => reader(65536).push(header), protocolError(CloseCode.TooBig));
  // A 2^63 length is refused the same way.
  const huge = new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => reader(65536).push(huge), protocolError(CloseCode.TooBig));
  // Fragments count together.
  const r = reader(10);
  r.push(encodeFrame(Opcode.Text, enc.encode("123456"), MASK, false));
  assert.throws(
    () => r.push(encodeFrame(Opcode.Continuation, enc.encode("7890a"), MASK)),
    protocolError(CloseCode.TooBig),
  );
  // Exactly the bound is fine.
  assert.equal(reader(10).push(encodeText("1234567890", MASK)).length, 1);
});

Deno.test("close frames: reasons are cut to 123 bytes on a character boundary", () => {
  const f = encodeClose(1001, "é".repeat(100));
  assert.equal(f[1], 2 + 122); // 61 two-byte characters fit in 123 bytes
  const [ev] = reader(1000, false).push(f);
  assert.deepEqual(ev, { kind: "close", code: 1001, reason: "é".repeat(61) });
});
