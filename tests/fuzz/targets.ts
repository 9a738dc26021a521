/**
 * What the fuzzer checks: for each parser, how a case is drawn and what must hold of the parse.
 *
 * The rule for every target: a parser either returns a value that is valid by the protocol, or
 * fails in the documented way (a `BencodeError`, a `TorrentFileError`, a `QueryError`, a typed
 * UDP parse failure). Anything else thrown, or a value that breaks an invariant, is a finding.
 *
 * @module
 */
import { isDeepStrictEqual } from "node:util";
import {
  BencodeError,
  type BValue,
  decode,
  decodeWithSpans,
  encode,
} from "../../src/protocol/bencode.ts";
import {
  magnetLink,
  type Metainfo,
  parseMetainfo,
  TorrentFileError,
  wireHashes,
} from "../../src/protocol/metainfo.ts";
import { parseAnnounceQuery, parseScrapeQuery, QueryError } from "../../src/protocol/http_query.ts";
import { canonicalIp } from "../../src/protocol/ip.ts";
import { AnnounceEvent, Want } from "../../src/protocol/types.ts";
import {
  parseUdpRequest,
  UdpParseFailure,
  UdpParseScratch,
  UdpSendableError,
  UdpUnsendableError,
  writeErrorReply,
} from "../../src/protocol/udp_packet.ts";
import { torrentFileName } from "../../src/control/torrents.ts";
import type { Rng } from "./prng.ts";
import { benc, mutateBytes, randomTorrent, randomTree, tokenSoup } from "./bencode_gen.ts";
import { type QueryCase, randomQuery } from "./query_gen.ts";
import { randomPacket, type UdpCase } from "./udp_gen.ts";
import { type FrameCase, randomFrames, randomWebTorrentMessage } from "./websocket_gen.ts";
import { type HeadCase, randomHead } from "./http_head_gen.ts";
import { parseHead, requestHeader } from "../../src/net/http_server.ts";
import {
  CloseCode,
  FrameReader,
  type WebSocketEvent,
  WebSocketProtocolError,
} from "../../src/protocol/websocket_frame.ts";
import {
  parseWebTorrentMessage,
  type WebTorrentLimits,
  WebTorrentMessageError,
} from "../../src/protocol/webtorrent.ts";

/** A property that did not hold for a case. */
export class FuzzViolation extends Error {
  override name = "FuzzViolation";
}

/** Inputs every target may draw from: real `.torrent` files (made by mktorrent, transmission). */
export interface Corpus {
  torrents: Uint8Array[];
}

/** One parser under fuzz. */
export interface FuzzTarget<C> {
  /** Short name, used in reports and to pick targets (`--target`). */
  readonly name: string;
  /** Draws one case from the stream `rng`. */
  generate(rng: Rng, corpus: Corpus): C;
  /** Runs the parser on the case; throws a {@linkcode FuzzViolation} when a property fails. */
  check(c: C): void;
  /** The case in a form a person can read, to reproduce by hand. */
  show(c: C): string;
}

function fail(message: string): never {
  throw new FuzzViolation(message);
}

function expect(ok: boolean, message: string): void {
  if (!ok) fail(message);
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : `a non-Error: ${String(e)}`;
}

/** Bytes as text a person can paste: printable ASCII as is, the rest as `\xNN`, cut if long. */
export function showBytes(b: Uint8Array, max = 600): string {
  let s = "";
  for (const c of b.subarray(0, max)) {
    s += c >= 0x20 && c < 0x7f && c !== 0x5c
      ? String.fromCharCode(c)
      : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return `${b.length} bytes: "${s}"${b.length > max ? "…" : ""}`;
}

/** Binary string (query) shown like bytes. */
function showBinary(s: string): string {
  return showBytes(Uint8Array.from(s, (c) => c.charCodeAt(0)));
}

/** Sorts dict keys, as a value decoded from a canonical encoding has them. */
function canonical(v: BValue): BValue {
  if (Array.isArray(v)) return v.map(canonical);
  if (v instanceof Map) {
    return new Map(
      [...v].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

/** The bencode decoder: decode, decodeWithSpans, and re-encoding of what decoded. */
export const bencodeTarget: FuzzTarget<Uint8Array> = {
  name: "bencode",
  generate(rng, corpus) {
    const r = rng.float();
    if (r < 0.2) return benc(randomTree(rng, 4));
    if (r < 0.4) return mutateBytes(rng, benc(randomTree(rng, 4)), corpus.torrents);
    if (r < 0.55) return tokenSoup(rng, 60);
    if (r < 0.65) return rng.bytes(rng.length(300));
    const base = rng.chance(0.5) ? rng.pick(corpus.torrents) : randomTorrent(rng);
    return mutateBytes(rng, base, corpus.torrents);
  },
  check(bytes) {
    let value: BValue;
    try {
      value = decode(bytes);
    } catch (e) {
      if (!(e instanceof BencodeError)) fail(`decode threw ${describeError(e)}`);
      expect(
        Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= bytes.length,
        `error offset ${e.offset} outside the input`,
      );
      // decodeWithSpans must refuse the same input the same way.
      try {
        decodeWithSpans(bytes);
        fail("decodeWithSpans accepted what decode refused");
      } catch (e2) {
        expect(
          e2 instanceof BencodeError && e2.message === e.message,
          `spans: ${describeError(e2)}`,
        );
      }
      return;
    }
    const { value: same, spans } = decodeWithSpans(bytes);
    expect(isDeepStrictEqual(same, value), "decodeWithSpans gave another value");
    for (const [key, [start, end]] of spans) {
      expect(0 <= start && start < end && end <= bytes.length, `span of ${key} out of range`);
      const alone = decode(bytes.subarray(start, end));
      expect(
        isDeepStrictEqual(alone, (value as Map<string, BValue>).get(key)),
        `the span of ${JSON.stringify(key)} does not hold its value`,
      );
    }
    let again: BValue;
    try {
      again = decode(encode(value));
    } catch (e) {
      fail(`re-encoding a decoded value failed: ${describeError(e)}`);
    }
    expect(isDeepStrictEqual(again, canonical(value)), "decode(encode(v)) differs from v");
  },
  show: (bytes) => showBytes(bytes),
};

/** The case of the metainfo target: bytes and the name bound to parse with. */
export interface TorrentCase {
  bytes: Uint8Array;
  maxNameLength?: number;
}

function checkMetainfo(m: Metainfo, maxNameLength: number | undefined): void {
  expect([1, 2, "hybrid"].includes(m.version), `version ${m.version}`);
  expect((m.infoHashV1 !== undefined) === (m.version !== 2), "v1 hash presence vs version");
  expect((m.infoHashV2 !== undefined) === (m.version !== 1), "v2 hash presence vs version");
  expect(m.infoHashV1 === undefined || m.infoHashV1.length === 20, "v1 hash is not 20 bytes");
  expect(m.infoHashV2 === undefined || m.infoHashV2.length === 32, "v2 hash is not 32 bytes");
  for (const h of wireHashes(m)) expect(h.length === 20, "a wire hash is not 20 bytes");
  expect(Number.isSafeInteger(m.pieceLength) && m.pieceLength > 0, `piece length ${m.pieceLength}`);
  let total = 0;
  for (const f of m.files) {
    expect(Number.isSafeInteger(f.length) && f.length >= 0, `file length ${f.length}`);
    expect(typeof f.path === "string", "file path is not a string");
    total += f.length;
  }
  expect(total === m.totalLength, `total ${m.totalLength}, files add up to ${total}`);
  expect(typeof m.name === "string", "name is not a string");
  if (maxNameLength !== undefined) {
    expect([...m.name].length <= maxNameLength, `name longer than ${maxNameLength}`);
  }
  // What the server builds from a parsed file must not throw either.
  try {
    magnetLink(m, m.announceList?.flat() ?? []);
  } catch (e) {
    fail(`magnetLink threw ${describeError(e)}`);
  }
  const file = torrentFileName(m.name);
  expect(
    // deno-lint-ignore no-control-regex
    !/[/\\\x00-\x1f\x7f]/.test(file) && !file.startsWith(".") && file.endsWith(".torrent") &&
      new TextEncoder().encode(file).length <= 255,
    `unsafe file name ${JSON.stringify(file)}`,
  );
}

/** The `.torrent` parser, on generated files of every version and mutated real ones. */
export const metainfoTarget: FuzzTarget<TorrentCase> = {
  name: "metainfo",
  generate(rng, corpus) {
    const maxNameLength = rng.chance(0.3) ? rng.pick([0, 1, 10, 200]) : undefined;
    const r = rng.float();
    let bytes: Uint8Array;
    if (r < 0.35) bytes = randomTorrent(rng);
    else if (r < 0.7) bytes = mutateBytes(rng, randomTorrent(rng), corpus.torrents);
    else bytes = mutateBytes(rng, rng.pick(corpus.torrents), corpus.torrents);
    return { bytes, maxNameLength };
  },
  check({ bytes, maxNameLength }) {
    let m: Metainfo;
    try {
      m = parseMetainfo(bytes, { maxNameLength });
    } catch (e) {
      if (!(e instanceof TorrentFileError)) fail(`parseMetainfo threw ${describeError(e)}`);
      expect(e.message.length > 0, "an empty error message");
      return;
    }
    checkMetainfo(m, maxNameLength);
  },
  show: ({ bytes, maxNameLength }) => `maxNameLength ${maxNameLength}, ${showBytes(bytes)}`,
};

const udpOut = new Uint8Array(65536);
const udpScratch = new UdpParseScratch();

/** The BEP 15 request parser: never throws, typed failures, exact fields for clean packets. */
export const udpTarget: FuzzTarget<UdpCase> = {
  name: "udp",
  generate: (rng) => randomPacket(rng),
  check({ packet, intent, maxScrapeTorrents }) {
    let r;
    try {
      r = parseUdpRequest(packet, { maxScrapeTorrents }, udpScratch);
    } catch (e) {
      fail(`parseUdpRequest threw ${describeError(e)}`);
    }
    const len = packet.length;
    switch (r.kind) {
      case "unsendable":
        expect(r instanceof UdpUnsendableError, "unsendable result of the wrong class");
        expect(intent === undefined, `a clean packet was refused: ${r.message}`);
        return;
      case "sendable": {
        expect(r instanceof UdpSendableError, "sendable result of the wrong class");
        expect(
          r.reason === UdpParseFailure.AnnounceTooShort ||
            r.reason === UdpParseFailure.NoInfoHashes,
          `sendable for ${r.reason}`,
        );
        expect(intent === undefined, `a clean packet was refused: ${r.message}`);
        const n = writeErrorReply(udpOut, r.transactionId, r.message, len);
        expect(n <= len, `an error reply of ${n} bytes to a ${len}-byte request`);
        return;
      }
      case "connect":
        expect(len >= 16, "connect shorter than 16 bytes");
        if (intent) {
          expect(intent.action === 0, "a connect from another action");
          expect(r.transactionId === intent.transactionId, "connect transaction id");
        }
        return;
      case "announce": {
        expect(len >= 98, "announce shorter than 98 bytes");
        expect(r.infoHash.length === 20 && r.peerId.length === 20, "hash or peer id length");
        expect(Number.isInteger(r.port) && r.port >= 0 && r.port <= 65535, `port ${r.port}`);
        expect(r.event >= AnnounceEvent.None && r.event <= AnnounceEvent.Stopped, "event");
        for (const k of ["downloaded", "left", "uploaded"] as const) {
          // -1: a negative int64, refused by the listener.
          expect(Number.isSafeInteger(r[k]) && r[k] >= -1, `${k} ${r[k]}`);
        }
        expect(r.numwant === (r.numwant | 0), `numwant ${r.numwant} is not an int32`);
        if (intent) {
          expect(intent.action === 1, "an announce from another action");
          const want = {
            ...intent,
            event: intent.event! <= 3 ? intent.event : AnnounceEvent.None,
          };
          for (
            const k of [
              "connectionIdHi",
              "connectionIdLo",
              "transactionId",
              "infoHash",
              "peerId",
              "downloaded",
              "left",
              "uploaded",
              "event",
              "ip",
              "key",
              "numwant",
              "port",
            ] as const
          ) {
            expect(r[k] === want[k], `announce ${k}: got ${r[k]}, sent ${want[k]}`);
          }
        }
        return;
      }
      case "scrape": {
        const n = r.infoHashes.length;
        expect(n >= 1 && n <= maxScrapeTorrents, `${n} hashes (bound ${maxScrapeTorrents})`);
        expect(16 + 20 * n <= len, "more hashes than the packet holds");
        expect(r.infoHashes.every((h) => h.length === 20), "a hash is not 20 bytes");
        if (intent) {
          expect(intent.action === 2, "a scrape from another action");
          expect(
            isDeepStrictEqual(r.infoHashes, intent.infoHashes!.slice(0, maxScrapeTorrents)),
            "scrape hashes differ from those sent",
          );
        }
        return;
      }
      default:
        fail(`unknown result ${JSON.stringify(r)}`);
    }
  },
  show: ({ packet, maxScrapeTorrents }) =>
    `maxScrapeTorrents ${maxScrapeTorrents}, ${showBytes(packet)}`,
};

/** Longest failure reason accepted: the client's value must not come back whole. */
const MAX_REASON = 200;

const EVENTS: Record<string, AnnounceEvent> = {
  started: AnnounceEvent.Started,
  completed: AnnounceEvent.Completed,
  stopped: AnnounceEvent.Stopped,
};

/** The HTTP announce and scrape query parser. */
export const httpQueryTarget: FuzzTarget<QueryCase> = {
  name: "http-query",
  generate: (rng) => randomQuery(rng),
  check(c) {
    const refused = (e: unknown): void => {
      if (!(e instanceof QueryError)) fail(`the parser threw ${describeError(e)}`);
      expect(
        e.message.length > 0 && e.message.length <= MAX_REASON,
        `a failure reason of ${e.message.length} characters`,
      );
      expect(
        c.announce === undefined && c.scrape === undefined,
        `clean query refused: ${e.message}`,
      );
    };
    if (c.kind === "scrape") {
      let hashes: string[];
      try {
        hashes = parseScrapeQuery(c.query, c.maxHashes).infoHashes;
      } catch (e) {
        return refused(e);
      }
      expect(hashes.length <= c.maxHashes, `${hashes.length} hashes (bound ${c.maxHashes})`);
      expect(hashes.every((h) => h.length === 20), "a hash is not 20 bytes");
      if (c.scrape) expect(isDeepStrictEqual(hashes, c.scrape), "scrape hashes differ");
      return;
    }
    let parsed;
    try {
      parsed = parseAnnounceQuery(c.query, c.remoteIp, { allowProxy: c.allowProxy });
    } catch (e) {
      return refused(e);
    }
    const r = parsed.request;
    expect(r.infoHash.length === 20 && r.peerId.length === 20, "hash or peer id length");
    expect(Number.isInteger(r.port) && r.port >= 0 && r.port <= 65535, `port ${r.port}`);
    for (const k of ["uploaded", "downloaded", "left"] as const) {
      expect(Number.isSafeInteger(r[k]) && r[k] >= 0, `${k} ${r[k]}`);
    }
    expect(Number.isInteger(r.numwant) && r.numwant >= -1, `numwant ${r.numwant}`);
    expect(r.want >= Want.V4 && r.want <= Want.Both, `want ${r.want}`);
    expect(
      canonicalIp(r.ip) === r.ip && !r.ip.includes("%"),
      `address ${JSON.stringify(r.ip)} is not canonical`,
    );
    if (!c.allowProxy) {
      expect(r.ip === c.remoteIp, "the ip parameter was honoured without allowProxy");
    }
    const i = c.announce;
    if (i === undefined) return;
    for (const k of ["infoHash", "peerId", "port", "uploaded", "downloaded", "left"] as const) {
      expect(r[k] === i[k], `${k}: got ${JSON.stringify(r[k])}, sent ${JSON.stringify(i[k])}`);
    }
    const event = EVENTS[i.event?.toLowerCase() ?? ""] ?? AnnounceEvent.None;
    expect(r.event === event, `event ${r.event} for ${JSON.stringify(i.event)}`);
    expect(r.numwant === (i.numwant ?? -1), `numwant ${r.numwant}, sent ${i.numwant}`);
    expect(parsed.compact === (i.compact ?? true), "compact");
  },
  show: (c) =>
    `${c.kind} allowProxy=${c.allowProxy} remoteIp=${c.remoteIp} maxHashes=${c.maxHashes} ` +
    `query ${showBinary(c.query)}`,
};

/** Headers asked of every parsed head: the server's own four, and two it finds by scanning. */
const HEADS_ASKED = ["connection", "upgrade", "content-length", "transfer-encoding", "host", "x"];

/**
 * The HTTP server's request-head parser: a request or a message, never a throw; the headers the
 * server finds on its fast paths are those of the request's plain header map; a clean head parses
 * to what was sent.
 */
export const httpHeadTarget: FuzzTarget<HeadCase> = {
  name: "http-head",
  generate: (rng) => randomHead(rng),
  check({ head, intent }) {
    let req;
    try {
      req = parseHead(head, head.length, "192.0.2.1", 6881, false);
    } catch (e) {
      fail(`the parser threw ${describeError(e)}`);
    }
    if (typeof req === "string") {
      expect(intent === undefined, `clean head refused: ${req}`);
      return;
    }
    expect(/^[A-Z]{1,16}$/.test(req.method), `method ${JSON.stringify(req.method)}`);
    expect(req.target !== "" && !/\s/.test(req.target), `target ${JSON.stringify(req.target)}`);
    expect(req.target.startsWith(req.path), "the path is not the start of the target");
    // The fast answers first: once the map is built, it answers every question.
    const fast = HEADS_ASKED.map((name) => requestHeader(req, name));
    const plain = HEADS_ASKED.map((name) => req.headers.get(name));
    expect(
      isDeepStrictEqual(fast, plain),
      `fast header look-ups ${JSON.stringify(fast)}, header map ${JSON.stringify(plain)}`,
    );
    if (intent === undefined) return;
    expect(req.method === intent.method, `method ${req.method}, sent ${intent.method}`);
    expect(req.target === intent.target, `target ${req.target}, sent ${intent.target}`);
    expect(requestHeader(req, ":version") === intent.version, "version");
    // The map also holds the version, as the pseudo-header `:version`.
    const got = new Map([...req.headers].filter(([name]) => name !== ":version"));
    expect(
      isDeepStrictEqual(got, intent.headers),
      `headers ${JSON.stringify([...got])}, sent ${JSON.stringify([...intent.headers])}`,
    );
  },
  show: (c) => `${c.intent ? "clean" : "mutated"} head ${showBytes(c.head)}`,
};

/** Close codes a framing fault may carry. */
const FRAMING_CODES = new Set<number>([
  CloseCode.ProtocolError,
  CloseCode.InvalidPayload,
  CloseCode.TooBig,
  CloseCode.UnsupportedData,
]);

/** The WebSocket frame reader: events or a protocol error, and never more buffered than a frame. */
export const websocketTarget: FuzzTarget<FrameCase> = {
  name: "websocket",
  generate: (rng) => randomFrames(rng),
  check({ chunks, fromClient, maxMessageBytes, texts }) {
    const reader = new FrameReader({ maxMessageBytes, fromClient });
    const events: WebSocketEvent[] = [];
    // A frame header is at most 14 bytes; a control frame carries at most 125.
    const bound = 14 + Math.max(maxMessageBytes, 125);
    try {
      for (const chunk of chunks) {
        events.push(...reader.push(chunk));
        // After a close the reader reads nothing more; what followed it is left as it came.
        if (events.some((e) => e.kind === "close")) continue;
        expect(reader.buffered <= bound, `${reader.buffered} bytes buffered (bound ${bound})`);
      }
    } catch (e) {
      if (e instanceof FuzzViolation) throw e;
      if (!(e instanceof WebSocketProtocolError)) fail(`push threw ${describeError(e)}`);
      expect(FRAMING_CODES.has(e.code), `close code ${e.code} for ${e.message}`);
      expect(texts === undefined, `a clean stream was refused: ${e.message}`);
      return;
    }
    let closed = false;
    for (const ev of events) {
      expect(!closed, "an event after the close");
      if (ev.kind === "text") {
        const size = new TextEncoder().encode(ev.text).length;
        expect(size <= maxMessageBytes, `a ${size}-byte message (bound ${maxMessageBytes})`);
      } else if (ev.kind === "ping" || ev.kind === "pong") {
        expect(ev.data.length <= 125, "a control frame over 125 bytes");
      } else if (ev.kind === "close") closed = true;
    }
    if (texts !== undefined) {
      const got = events.filter((e) => e.kind === "text").map((e) => e.kind === "text" && e.text);
      expect(isDeepStrictEqual(got, texts), "the messages differ from those sent");
    }
  },
  show: ({ chunks, fromClient, maxMessageBytes }) =>
    `fromClient=${fromClient} maxMessageBytes=${maxMessageBytes} chunks ` +
    chunks.map((c) => showBytes(c, 200)).join(" | "),
};

const WT_LIMITS: WebTorrentLimits = { maxOffers: 10, maxScrapeTorrents: 5 };

function isBinaryId(v: unknown): boolean {
  return typeof v === "string" && v.length === 20 && [...v].every((c) => c.charCodeAt(0) <= 0xff);
}

/** The WebTorrent JSON message parser: a valid request or a WebTorrentMessageError. */
export const webtorrentTarget: FuzzTarget<string> = {
  name: "webtorrent",
  generate: (rng) => randomWebTorrentMessage(rng),
  check(text) {
    let r;
    try {
      r = parseWebTorrentMessage(text, WT_LIMITS);
    } catch (e) {
      if (!(e instanceof WebTorrentMessageError)) fail(`the parser threw ${describeError(e)}`);
      expect(
        e.message.length > 0 && e.message.length <= MAX_REASON,
        `a failure reason of ${e.message.length} characters`,
      );
      return;
    }
    if (r.action === "scrape") {
      expect(r.infoHashes.length <= WT_LIMITS.maxScrapeTorrents, "too many scrape hashes");
      expect(r.infoHashes.every(isBinaryId), "a scrape hash is not 20 bytes");
      return;
    }
    expect(r.action === "announce", `action ${String(r.action)}`);
    expect(isBinaryId(r.infoHash) && isBinaryId(r.peerId), "hash or peer id");
    expect(r.event >= AnnounceEvent.None && r.event <= AnnounceEvent.Stopped, "event");
    expect(r.left === undefined || (Number.isFinite(r.left) && r.left >= 0), `left ${r.left}`);
    expect(r.offers.length <= WT_LIMITS.maxOffers, "too many offers");
    for (const o of r.offers) {
      expect(isBinaryId(o.offerId), "offer id");
      expect(o.offer.type === "offer" && typeof o.offer.sdp === "string", "offer");
      expect(Object.keys(o.offer).length === 2, "an offer carries more than type and sdp");
    }
    expect(
      Number.isInteger(r.numwant) && r.numwant >= 0 && r.numwant <= r.offers.length,
      `numwant ${r.numwant}`,
    );
    if (r.answer !== undefined) {
      expect(isBinaryId(r.answer.toPeerId) && isBinaryId(r.answer.offerId), "answer ids");
      expect(
        r.answer.answer.type === "answer" && typeof r.answer.answer.sdp === "string",
        "answer",
      );
    }
  },
  show: (text) => `message ${JSON.stringify(text.slice(0, 600))}${text.length > 600 ? "…" : ""}`,
};

/** Every target, by name. */
export const TARGETS: Record<string, FuzzTarget<unknown>> = Object.fromEntries(
  [
    bencodeTarget,
    metainfoTarget,
    udpTarget,
    httpQueryTarget,
    httpHeadTarget,
    websocketTarget,
    webtorrentTarget,
  ].map((t) => [
    t.name,
    t as FuzzTarget<unknown>,
  ]),
);

/** Reads the `.torrent` files of `tests/fixtures/torrents/`. */
export async function loadCorpus(): Promise<Corpus> {
  const dir = new URL("../fixtures/torrents/", import.meta.url);
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".torrent")) names.push(e.name);
  }
  // Sorted, so a case seed picks the same file on every machine.
  names.sort();
  const torrents = await Promise.all(names.map((n) => Deno.readFile(new URL(n, dir))));
  if (torrents.length === 0) throw new Error(`no .torrent files in ${dir.pathname}`);
  return { torrents };
}
