/**
 * The WebTorrent tracker protocol: the JSON text messages that the `bittorrent-tracker` npm package
 * and WebTorrent clients exchange with a tracker over a WebSocket.
 *
 * A client announces with WebRTC *offers*; the tracker relays each offer to one other peer of the
 * swarm, and relays that peer's *answer* back to the offerer, after which the two browsers talk
 * directly. Info hashes, peer ids and offer ids are 20-character binary strings (one character per
 * byte), exactly as Hefur keeps them.
 *
 * Messages (client → tracker):
 * - `{action: "announce", info_hash, peer_id, event?, left?, numwant?, offers?: [{offer, offer_id}]}`
 * - `{action: "announce", info_hash, peer_id, to_peer_id, offer_id, answer}`
 * - `{action: "scrape", info_hash?: hash | hash[]}`
 *
 * Replies (tracker → client): `{action: "announce", interval, info_hash, complete, incomplete}`,
 * relayed offers and answers `{action: "announce", info_hash, peer_id, offer_id, offer | answer}`,
 * `{action: "scrape", files: {hash: {complete, incomplete, downloaded}}}`, and failures
 * `{"failure reason": …}` (with `action` and `info_hash` when known, so clients can route them).
 *
 * @module
 */
import { AnnounceEvent, type SwarmCounts } from "./types.ts";
import { countError, countFromJson, OUT_OF_RANGE } from "./announce_check.ts";

/** A WebRTC session description, the part of an offer or answer the tracker passes on. */
export interface SessionDescription {
  type: "offer" | "answer";
  sdp: string;
}

/** One offer of an announce, to be relayed to one peer. */
export interface WebTorrentOffer {
  /** 20-byte id the offerer chose, as a binary string; the answer quotes it. */
  offerId: string;
  offer: SessionDescription;
}

/** An answer to an offer, to be relayed back to the offerer. */
export interface WebTorrentAnswer {
  /** The offerer's peer id. */
  toPeerId: string;
  offerId: string;
  answer: SessionDescription;
}

/** A WebSocket announce, validated. */
export interface WebTorrentAnnounce {
  action: "announce";
  /** 20-byte info hash as a binary string. */
  infoHash: string;
  /** 20-byte peer id as a binary string. */
  peerId: string;
  event: AnnounceEvent;
  /** Bytes left; `undefined` when the message did not say (answers never do). */
  left?: number;
  /** Offers to relay, at most `maxOffers`. */
  offers: WebTorrentOffer[];
  /** Peers the client wants offers sent to; never more than `offers.length`. */
  numwant: number;
  /** Present when the message answers an offer. */
  answer?: WebTorrentAnswer;
}

/** A WebSocket scrape, validated; an empty list asks for every torrent. */
export interface WebTorrentScrape {
  action: "scrape";
  infoHashes: string[];
}

/** A decoded client message. */
export type WebTorrentRequest = WebTorrentAnnounce | WebTorrentScrape;

/**
 * A message the tracker refuses. `action` and `infoHash` are set when they were read, so the
 * failure can be addressed to the right torrent (clients ignore announce replies for other hashes).
 */
export class WebTorrentMessageError extends Error {
  override name = "WebTorrentMessageError";
  /** The offending value. */
  readonly value: unknown;
  readonly action?: "announce" | "scrape";
  readonly infoHash?: string;
  constructor(message: string, value: unknown, action?: "announce" | "scrape", infoHash?: string) {
    super(message);
    this.value = value;
    this.action = action;
    this.infoHash = infoHash;
  }
}

/** Bounds applied while decoding. */
export interface WebTorrentLimits {
  /** Most offers in one announce; more is refused (clients send 5 to 10). */
  maxOffers: number;
  /** Most info hashes in one scrape. */
  maxScrapeTorrents: number;
}

/** True for a 20-character string of byte-sized characters (a binary info hash or id). */
function isId(v: unknown): v is string {
  if (typeof v !== "string" || v.length !== 20) return false;
  for (let i = 0; i < 20; i++) if (v.charCodeAt(i) > 0xff) return false;
  return true;
}

function describe(v: unknown): string {
  if (typeof v === "string") return `${v.length} characters`;
  return v === null ? "null" : typeof v;
}

/**
 * A client's value as a failure reason may quote it: a string cut to 32 characters, a number or
 * boolean as it is, anything else by its type. Never `String(v)`: a list would come back whole,
 * and an object whose `toString` is not a function makes it throw.
 */
function quote(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 32 ? v.slice(0, 32) + "…" : v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : typeof v;
}

const EVENTS: Record<string, AnnounceEvent> = {
  started: AnnounceEvent.Started,
  stopped: AnnounceEvent.Stopped,
  completed: AnnounceEvent.Completed,
  update: AnnounceEvent.None,
  paused: AnnounceEvent.None,
  empty: AnnounceEvent.None,
  "": AnnounceEvent.None,
};

function sessionDescription(
  v: unknown,
  type: "offer" | "answer",
  infoHash: string,
): SessionDescription {
  const d = v as Record<string, unknown> | null;
  if (typeof d !== "object" || d === null || d.type !== type || typeof d.sdp !== "string") {
    throw new WebTorrentMessageError(
      `invalid ${type}: expected {type: "${type}", sdp: string}`,
      v,
      "announce",
      infoHash,
    );
  }
  // Only the two fields WebRTC defines are passed on, so nothing else travels through Hefur.
  return { type, sdp: d.sdp };
}

/**
 * Decodes and validates one client message. Throws {@link WebTorrentMessageError}.
 *
 * @example
 * ```ts
 * import { parseWebTorrentMessage } from "./webtorrent.ts";
 * const req = parseWebTorrentMessage(
 *   JSON.stringify({ action: "scrape", info_hash: "h".repeat(20) }),
 *   { maxOffers: 10, maxScrapeTorrents: 74 },
 * ); // { action: "scrape", infoHashes: ["hhhhhhhhhhhhhhhhhhhh"] }
 * ```
 */
export function parseWebTorrentMessage(text: string, limits: WebTorrentLimits): WebTorrentRequest {
  let msg: Record<string, unknown>;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new WebTorrentMessageError("message is not JSON", text.slice(0, 64));
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
    throw new WebTorrentMessageError("message is not a JSON object", msg);
  }
  if (msg.action === "scrape") return parseScrape(msg, limits);
  if (msg.action !== "announce") {
    throw new WebTorrentMessageError(`invalid action: ${quote(msg.action)}`, msg.action);
  }

  const infoHash = msg.info_hash;
  if (!isId(infoHash)) {
    throw new WebTorrentMessageError(
      `invalid info_hash: ${describe(infoHash)}, expected 20`,
      infoHash,
      "announce",
    );
  }
  const fail = (message: string, value: unknown): never => {
    throw new WebTorrentMessageError(message, value, "announce", infoHash);
  };
  const peerId = msg.peer_id;
  if (!isId(peerId)) fail(`invalid peer_id: ${describe(peerId)}, expected 20`, peerId);

  const eventName = msg.event ?? "";
  const event = typeof eventName === "string" && Object.hasOwn(EVENTS, eventName)
    ? EVENTS[eventName]
    : fail(`invalid event: ${quote(eventName)}`, eventName);

  // Clients that do not know the size send Infinity, which JSON turns into null: unknown. Any
  // other value is a count, checked as every listener checks it.
  let left: number | undefined;
  if (msg.left !== undefined && msg.left !== null) {
    left = countFromJson(msg.left);
    if (left === OUT_OF_RANGE) fail(`${countError("left")}, got ${quote(msg.left)}`, msg.left);
  }

  const offers: WebTorrentOffer[] = [];
  if (msg.offers !== undefined && msg.offers !== null) {
    if (!Array.isArray(msg.offers)) fail("offers must be a list", msg.offers);
    const list = msg.offers as unknown[];
    if (list.length > limits.maxOffers) {
      fail(`too many offers: ${list.length}, at most ${limits.maxOffers}`, list.length);
    }
    for (const o of list) {
      const item = o as Record<string, unknown> | null;
      if (typeof item !== "object" || item === null) fail("invalid offer", o);
      if (!isId(item!.offer_id)) {
        fail(`invalid offer_id: ${describe(item!.offer_id)}, expected 20`, item!.offer_id);
      }
      offers.push({
        offerId: item!.offer_id as string,
        offer: sessionDescription(item!.offer, "offer", infoHash),
      });
    }
  }

  let numwant = offers.length;
  if (typeof msg.numwant === "number" && Number.isInteger(msg.numwant) && msg.numwant >= 0) {
    numwant = Math.min(msg.numwant, offers.length);
  }

  let answer: WebTorrentAnswer | undefined;
  if (msg.answer !== undefined && msg.answer !== null) {
    if (!isId(msg.to_peer_id)) {
      fail(`invalid to_peer_id: ${describe(msg.to_peer_id)}, expected 20`, msg.to_peer_id);
    }
    if (!isId(msg.offer_id)) {
      fail(`invalid offer_id: ${describe(msg.offer_id)}, expected 20`, msg.offer_id);
    }
    answer = {
      toPeerId: msg.to_peer_id as string,
      offerId: msg.offer_id as string,
      answer: sessionDescription(msg.answer, "answer", infoHash),
    };
  }

  return {
    action: "announce",
    infoHash,
    peerId: peerId as string,
    event,
    left,
    offers,
    numwant,
    answer,
  };
}

function parseScrape(msg: Record<string, unknown>, limits: WebTorrentLimits): WebTorrentScrape {
  const raw = msg.info_hash;
  const list = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : [raw];
  if (list.length > limits.maxScrapeTorrents) {
    throw new WebTorrentMessageError(
      `too many info hashes: ${list.length}, at most ${limits.maxScrapeTorrents}`,
      list.length,
      "scrape",
    );
  }
  for (const h of list) {
    if (!isId(h)) {
      throw new WebTorrentMessageError(
        `invalid info_hash: ${describe(h)}, expected 20`,
        h,
        "scrape",
      );
    }
  }
  return { action: "scrape", infoHashes: list as string[] };
}

/** The reply to an announce: the interval and the swarm's counters. */
export function encodeAnnounceReply(
  infoHash: string,
  counts: SwarmCounts,
  interval: number,
): string {
  return JSON.stringify({
    action: "announce",
    interval,
    info_hash: infoHash,
    complete: counts.complete,
    incomplete: counts.incomplete,
  });
}

/** An offer from `fromPeerId`, relayed to one peer. */
export function encodeRelayedOffer(
  infoHash: string,
  fromPeerId: string,
  offer: WebTorrentOffer,
): string {
  return JSON.stringify({
    action: "announce",
    offer: offer.offer,
    offer_id: offer.offerId,
    peer_id: fromPeerId,
    info_hash: infoHash,
  });
}

/** An answer from `fromPeerId`, relayed to the peer that made the offer. */
export function encodeRelayedAnswer(
  infoHash: string,
  fromPeerId: string,
  answer: WebTorrentAnswer,
): string {
  return JSON.stringify({
    action: "announce",
    answer: answer.answer,
    offer_id: answer.offerId,
    peer_id: fromPeerId,
    info_hash: infoHash,
  });
}

/** The reply to a scrape; `interval` is sent as `flags.min_request_interval`. */
export function encodeScrapeReply(
  entries: readonly (readonly [string, SwarmCounts])[],
  interval: number,
): string {
  const files: Record<string, SwarmCounts> = Object.create(null);
  for (const [hash, c] of entries) {
    files[hash] = { complete: c.complete, incomplete: c.incomplete, downloaded: c.downloaded };
  }
  return JSON.stringify({ action: "scrape", files, flags: { min_request_interval: interval } });
}

/** A refusal; `action` and `infoHash` are added when known. */
export function encodeFailure(
  reason: string,
  action?: "announce" | "scrape",
  infoHash?: string,
): string {
  const out: Record<string, string> = {};
  if (action !== undefined) out.action = action;
  out["failure reason"] = reason;
  if (infoHash !== undefined) out.info_hash = infoHash;
  return JSON.stringify(out);
}
