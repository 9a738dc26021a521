/**
 * Fuzz inputs for the WebSocket side: byte streams of RFC 6455 frames (well formed with the
 * messages they carry, or broken: reserved bits, bad opcodes, huge declared lengths, unmasked
 * client frames, invalid UTF-8, fragments out of order), cut into random chunks; and WebTorrent
 * JSON messages, valid and hostile (wrong types, objects whose `toString` is not a function,
 * prototype keys, long strings, many offers).
 *
 * @module
 */
import type { Rng } from "./prng.ts";

/** A frame stream and, when it is clean, the messages it must decode to. */
export interface FrameCase {
  /** The stream, in the chunks it is pushed in. */
  chunks: Uint8Array[];
  fromClient: boolean;
  maxMessageBytes: number;
  /** Set when the stream is well formed and unmutated: text messages in order. */
  texts?: string[];
}

function frame(
  rng: Rng,
  fin: boolean,
  opcode: number,
  payload: Uint8Array,
  masked: boolean,
  rsv = 0,
): Uint8Array {
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const m = masked ? 0x80 : 0;
  const n = payload.length;
  if (n < 126) head.push(m | n);
  else if (n < 65536 && rng.chance(0.9)) head.push(m | 126, n >> 8, n & 255);
  else {
    head.push(m | 127);
    for (let i = 7; i >= 0; i--) head.push(Math.floor(n / 2 ** (8 * i)) & 255);
  }
  const key = masked ? rng.bytes(4) : new Uint8Array(0);
  const body = Uint8Array.from(payload, (b, i) => masked ? b ^ key[i & 3] : b);
  return Uint8Array.from([...head, ...key, ...body]);
}

const utf8 = new TextEncoder();

function randomText(rng: Rng): string {
  return rng.pick([
    () => "",
    () => "hello",
    () => "é€😀".repeat(rng.int(20)),
    () => JSON.stringify({ action: "scrape", info_hash: "h".repeat(20) }),
    () => "x".repeat(rng.length(3000)),
  ])();
}

/** Splits bytes into 1 to 8 chunks at random places. */
function chunked(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  const cuts = Array.from({ length: rng.int(8) }, () => rng.int(bytes.length + 1)).sort((a, b) =>
    a - b
  );
  const out: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.slice(at, c));
    at = c;
  }
  return out;
}

/** A frame stream, clean (text messages, maybe fragmented, pings between) or broken. */
export function randomFrames(rng: Rng): FrameCase {
  const fromClient = rng.chance(0.8);
  const maxMessageBytes = rng.pick([16, 125, 1024, 4096]);
  const parts: Uint8Array[] = [];
  const texts: string[] = [];
  for (let n = rng.range(1, 5); n > 0; n--) {
    const text = randomText(rng);
    const bytes = utf8.encode(text);
    if (bytes.length > maxMessageBytes) continue; // clean streams stay within the bound
    texts.push(text);
    const pieces = rng.chance(0.3) ? rng.range(2, 4) : 1;
    const size = Math.ceil(bytes.length / pieces) || 1;
    for (let i = 0, at = 0; i < pieces; i++, at += size) {
      parts.push(
        frame(rng, i === pieces - 1, i === 0 ? 1 : 0, bytes.slice(at, at + size), fromClient),
      );
      if (rng.chance(0.2)) parts.push(frame(rng, true, 9, rng.bytes(rng.int(10)), fromClient));
    }
  }
  let stream = Uint8Array.from(parts.flatMap((p) => [...p]));
  if (rng.chance(0.4)) return { chunks: chunked(rng, stream), fromClient, maxMessageBytes, texts };

  // Broken: a bad frame somewhere, or bytes flipped.
  const bad = rng.pick<() => Uint8Array>([
    () => frame(rng, true, 1, rng.bytes(rng.int(40)), fromClient), // invalid UTF-8, likely
    () => frame(rng, true, rng.pick([3, 7, 11, 15]), rng.bytes(3), fromClient), // reserved opcode
    () => frame(rng, true, 1, utf8.encode("rsv"), fromClient, rng.range(1, 7)),
    () => frame(rng, true, 1, utf8.encode("unmasked"), !fromClient),
    () => frame(rng, false, 9, rng.bytes(3), fromClient), // fragmented control frame
    () => frame(rng, true, 9, rng.bytes(126), fromClient), // control frame too long
    () => frame(rng, true, 0, utf8.encode("orphan"), fromClient), // continuation of nothing
    () => frame(rng, true, 8, rng.bytes(rng.pick([1, 2, 5])), fromClient), // close codes, reasons
    () => frame(rng, true, 2, rng.bytes(10), fromClient),
    () => frame(rng, true, 1, new Uint8Array(maxMessageBytes + 1).fill(97), fromClient),
    // A header declaring 2^63 - 1 or 2^53 bytes.
    () => Uint8Array.from([0x81, (fromClient ? 0x80 : 0) | 127, 0x7f, ...new Array(7).fill(0xff)]),
    () => Uint8Array.from([0x81, (fromClient ? 0x80 : 0) | 127, 0, 0x20, 0, 0, 0, 0, 0, 0]),
  ])();
  const at = rng.int(parts.length + 1);
  stream = Uint8Array.from([...parts.slice(0, at), bad, ...parts.slice(at)].flatMap((p) => [...p]));
  for (let f = rng.int(3); f > 0 && stream.length > 0; f--) {
    stream[rng.int(stream.length)] = rng.u32() & 255;
  }
  return { chunks: chunked(rng, stream), fromClient, maxMessageBytes };
}

// ---- WebTorrent messages ----

const HOSTILE_VALUES: (() => unknown)[] = [
  () => null,
  () => 0,
  () => -1,
  () => 1e308,
  () => true,
  () => "",
  () => "x".repeat(20),
  () => "é".repeat(20),
  () => "\u0100".repeat(20),
  () => "y".repeat(100_000),
  () => [],
  () => ["h".repeat(20)],
  () => ({}),
  () => ({ toString: 1 }),
  () => ({ toString: 1, valueOf: 1 }),
  () => ({ type: "offer", sdp: 5 }),
  () => Array.from({ length: 1000 }, (_, i) => i),
];

function id(rng: Rng): string {
  return rng.binary(20);
}

/** A WebTorrent client message as JSON text: announce or scrape, valid or hostile. */
export function randomWebTorrentMessage(rng: Rng): string {
  if (rng.chance(0.05)) return rng.pick(["", "{", "null", "[]", "42", '"announce"', "{]"]);
  const msg: Record<string, unknown> = rng.chance(0.5)
    ? {
      action: "announce",
      info_hash: id(rng),
      peer_id: id(rng),
      event: rng.pick(["started", "stopped", "completed", "update", "", undefined]),
      left: rng.pick([0, 100, null, undefined]),
      numwant: rng.pick([0, 5, 100, undefined]),
      offers: rng.chance(0.5)
        ? Array.from({ length: rng.int(12) }, () => ({
          offer_id: id(rng),
          offer: { type: "offer", sdp: "v=0\r\n" },
        }))
        : undefined,
    }
    : { action: "scrape", info_hash: rng.chance(0.5) ? id(rng) : [id(rng), id(rng)] };
  if (rng.chance(0.3)) {
    msg.answer = { type: "answer", sdp: "v=0" };
    msg.to_peer_id = id(rng);
    msg.offer_id = id(rng);
  }
  // Break it: hostile values for known keys, prototype keys.
  for (let n = rng.chance(0.3) ? 0 : rng.range(1, 3); n > 0; n--) {
    const key = rng.pick([
      "action",
      "info_hash",
      "peer_id",
      "event",
      "left",
      "numwant",
      "offers",
      "answer",
      "to_peer_id",
      "offer_id",
      "__proto__",
      "constructor",
    ]);
    const value = rng.pick(HOSTILE_VALUES)();
    if (key === "offers" && Array.isArray(msg.offers) && rng.chance(0.5)) {
      (msg.offers as unknown[]).push(value);
    } else {
      // A plain own key even for "__proto__" (as JSON.parse makes it), not the prototype.
      Object.defineProperty(msg, key, { value, enumerable: true, writable: true });
    }
  }
  let text = JSON.stringify(msg);
  if (rng.chance(0.05)) text = text.slice(0, rng.int(text.length));
  return text;
}
