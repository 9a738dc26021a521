/**
 * The state file's format: what a restart keeps of the tracker, as versioned JSON lines. Pure:
 * values in, text out, and back; no file system and no clock.
 *
 * ```text
 * {"format":"hefur-state","version":2,"saved_at":"2025-01-02T03:04:05.000Z","saved_at_ms":…,"hefur":"0.1.0"}
 * {"info_hash":"<40 hex>","completed":12,"announces":3400,"first_seen_ms":…,"peers":[…]}
 * …one line per torrent…
 * {"ws_info_hash":"<40 hex>","completed":5}
 * …one line per WebSocket swarm with completions…
 * {"end":true,"torrents":1,"peers":0,"ws_swarms":1,"sha256":"<hex of every byte before this line>"}
 * ```
 *
 * A peer is `{"ip":"…","port":6881,"peer_id":"<40 hex>","left":0,"uploaded":0,"downloaded":0,
 * "age":42}`, `age` being the seconds between its last announce and the save. Lines keep the file
 * readable with ordinary tools and let a reader check its size line by line; the closing line
 * with its checksum tells a complete file from a truncated or edited one.
 *
 * Version 2 added the `ws_info_hash` lines: the completed counts of the WebSocket (WebTorrent)
 * swarms, which are counted apart from the UDP/HTTP ones. Their peers are not kept: browsers
 * reconnect on their own. A version 1 file (no such lines, no `ws_swarms` in the end line) is still
 * read, as before.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { binaryToHex, concatBytes, hexToBinary } from "../protocol/binary.ts";
import { canonicalIp } from "../protocol/ip.ts";

/** The `format` value of the header line. */
export const STATE_FORMAT = "hefur-state";
/** The version this code writes, and the newest it reads. */
export const STATE_VERSION = 2;
/** The oldest version this code reads: version 1 had no WebSocket swarms. */
export const STATE_OLDEST_VERSION = 1;
/** Largest state file read, in bytes: a file larger than this is not Hefur's. */
export const STATE_MAX_BYTES = 256 * 1024 * 1024;
/** Peers written per torrent at most: the most recent ones, enough to answer announces. */
export const STATE_MAX_PEERS_PER_TORRENT = 200;
/** Peers written in all at most, so the file stays small whatever the swarms. */
export const STATE_MAX_PEERS = 500_000;

/** A peer as saved. */
export interface SavedPeer {
  /** Canonical address text. */
  ip: string;
  port: number;
  /** 20-byte peer id, binary string. */
  peerId: string;
  left: number;
  uploaded: number;
  downloaded: number;
  /** Seconds between the peer's last announce and the save. */
  age: number;
}

/** A torrent as saved. */
export interface SavedTorrent {
  /** 20-byte key, binary string. */
  infoHash: string;
  completed: number;
  announces: number;
  /** When the torrent was first tracked, ms since the epoch. */
  firstSeen: number;
  /** Most recent last, at most {@link STATE_MAX_PEERS_PER_TORRENT}. */
  peers: SavedPeer[];
}

/** A WebSocket (WebTorrent) swarm as saved: only its completed count, peers are not kept. */
export interface SavedWsSwarm {
  /** 20-byte key, binary string. */
  infoHash: string;
  completed: number;
}

/** Everything a state file holds. */
export interface StateContents {
  /** When it was written, ms since the epoch. */
  savedAt: number;
  /** Version of the Hefur that wrote it. */
  hefur: string;
  torrents: SavedTorrent[];
  /** WebSocket swarms with completions; empty when read from a version 1 file. */
  wsSwarms: SavedWsSwarm[];
}

/** Why a file cannot be read as Hefur's state. */
export type StateProblem =
  /** Not a Hefur state file at all (another program's file, or a wrong path). */
  | "foreign"
  /** Written by a newer Hefur, in a version this one does not know. */
  | "newer"
  /** A Hefur state file, but truncated, edited or otherwise broken. */
  | "damaged";

/** A state file that cannot be used; `problem` says what kind, `detail` what exactly. */
export class StateFileError extends Error {
  readonly problem: StateProblem;
  /** The offending part (a line number, a value), for the log. */
  readonly detail: string;

  constructor(problem: StateProblem, detail: string) {
    super(`${problem} state file: ${detail}`);
    this.name = "StateFileError";
    this.problem = problem;
    this.detail = detail;
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const encoder = new TextEncoder();

/**
 * Writes a state file piece by piece (header, torrents, end line), so a large state can be written
 * in batches without holding it all or stopping the event loop for long. Applies the peer bounds.
 */
export class StateWriter {
  readonly #hash = createHash("sha256");
  #torrents = 0;
  #peers = 0;
  #wsSwarms = 0;

  /** The header line; call first. */
  header(savedAt: number, hefur: string): Uint8Array {
    return this.#line(JSON.stringify({
      format: STATE_FORMAT,
      version: STATE_VERSION,
      saved_at: new Date(savedAt).toISOString(),
      saved_at_ms: savedAt,
      hefur,
    }));
  }

  /** The line of one torrent, with its most recent peers within the bounds. */
  torrent(t: SavedTorrent): Uint8Array {
    const n = Math.min(t.peers.length, STATE_MAX_PEERS_PER_TORRENT, STATE_MAX_PEERS - this.#peers);
    const peers = t.peers.slice(t.peers.length - n).map((p) => ({
      ip: p.ip,
      port: p.port,
      peer_id: binaryToHex(p.peerId),
      left: p.left,
      uploaded: p.uploaded,
      downloaded: p.downloaded,
      age: p.age,
    }));
    this.#torrents++;
    this.#peers += n;
    return this.#line(JSON.stringify({
      info_hash: binaryToHex(t.infoHash),
      completed: t.completed,
      announces: t.announces,
      first_seen_ms: t.firstSeen,
      peers,
    }));
  }

  /** The line of one WebSocket swarm; call after the torrents. */
  wsSwarm(s: SavedWsSwarm): Uint8Array {
    this.#wsSwarms++;
    return this.#line(JSON.stringify({
      ws_info_hash: binaryToHex(s.infoHash),
      completed: s.completed,
    }));
  }

  /** The end line, with the counts and the checksum of everything before it; call last. */
  end(): Uint8Array {
    return encoder.encode(
      JSON.stringify({
        end: true,
        torrents: this.#torrents,
        peers: this.#peers,
        ws_swarms: this.#wsSwarms,
        sha256: this.#hash.digest("hex"),
      }) + "\n",
    );
  }

  #line(json: string): Uint8Array {
    const bytes = encoder.encode(json + "\n");
    this.#hash.update(bytes);
    return bytes;
  }
}

/**
 * Writes `contents` as state file bytes at once (see {@link StateWriter} for large states).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeState, encodeState } from "./state_format.ts";
 * const state = {
 *   savedAt: 1,
 *   hefur: "0.1.0",
 *   torrents: [
 *     { infoHash: "\x01".repeat(20), completed: 5, announces: 9, firstSeen: 0, peers: [] },
 *   ],
 *   wsSwarms: [{ infoHash: "\x02".repeat(20), completed: 3 }],
 * };
 * assert.deepEqual(decodeState(encodeState(state)), state);
 * ```
 */
export function encodeState(contents: StateContents): Uint8Array {
  const w = new StateWriter();
  const parts = [w.header(contents.savedAt, contents.hefur)];
  for (const t of contents.torrents) parts.push(w.torrent(t));
  for (const s of contents.wsSwarms) parts.push(w.wsSwarm(s));
  parts.push(w.end());
  return concatBytes(parts);
}

/**
 * Reads state file bytes. Throws a {@link StateFileError} saying whether the file is foreign,
 * from a newer Hefur, or damaged; every field is checked, so what it returns is safe to apply.
 */
export function decodeState(bytes: Uint8Array): StateContents {
  if (bytes.length > STATE_MAX_BYTES) {
    throw new StateFileError("foreign", `${bytes.length} bytes, more than a state file holds`);
  }
  const firstEnd = bytes.indexOf(10);
  const header = parseLine(bytes.subarray(0, firstEnd < 0 ? bytes.length : firstEnd));
  if (!isObject(header) || header.format !== STATE_FORMAT) {
    throw new StateFileError("foreign", "it does not start with a hefur-state header");
  }
  const version = header.version;
  if (
    typeof version !== "number" || !Number.isSafeInteger(version) ||
    version < STATE_OLDEST_VERSION || version > STATE_VERSION
  ) {
    if (typeof version === "number" && version > STATE_VERSION) {
      throw new StateFileError(
        "newer",
        `version ${version}, this Hefur reads ${STATE_OLDEST_VERSION} to ${STATE_VERSION}`,
      );
    }
    throw new StateFileError("damaged", `bad version ${JSON.stringify(version)}`);
  }
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 10) {
    throw new StateFileError("damaged", "truncated: no final newline");
  }
  const lastStart = bytes.lastIndexOf(10, bytes.length - 2) + 1;
  if (lastStart <= firstEnd) throw new StateFileError("damaged", "truncated: no end line");
  const end = parseLine(bytes.subarray(lastStart, bytes.length - 1));
  if (!isObject(end) || end.end !== true || typeof end.sha256 !== "string") {
    throw new StateFileError("damaged", "truncated: the last line is not the end line");
  }
  if (sha256Hex(bytes.subarray(0, lastStart)) !== end.sha256) {
    throw new StateFileError("damaged", "checksum mismatch");
  }
  const savedAt = header.saved_at_ms;
  if (!isCount(savedAt)) throw new StateFileError("damaged", "bad saved_at_ms");

  const torrents: SavedTorrent[] = [];
  const text = new TextDecoder().decode(bytes.subarray(firstEnd + 1, lastStart));
  const lines = text.split("\n");
  lines.pop(); // the empty string after the last newline
  const wsSwarms: SavedWsSwarm[] = [];
  // A hash listed twice would add its count twice on restore: refused rather than guessed at.
  const wsSeen = new Set<string>();
  let peerCount = 0;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 2;
    let v: unknown;
    try {
      v = JSON.parse(lines[i]);
    } catch {
      throw new StateFileError("damaged", `line ${lineNo}: not JSON`);
    }
    // Version 1 knew only torrent lines: there, a `ws_info_hash` line is as bad as any other.
    if (version >= 2 && isObject(v) && "ws_info_hash" in v) {
      const s = readWsSwarm(v, lineNo);
      if (wsSeen.has(s.infoHash)) {
        throw new StateFileError("damaged", `line ${lineNo}: WebSocket swarm listed twice`);
      }
      wsSeen.add(s.infoHash);
      wsSwarms.push(s);
      continue;
    }
    const t = readTorrent(v, lineNo);
    peerCount += t.peers.length;
    torrents.push(t);
  }
  if (
    end.torrents !== torrents.length || end.peers !== peerCount ||
    (version >= 2 ? end.ws_swarms !== wsSwarms.length : end.ws_swarms !== undefined)
  ) {
    throw new StateFileError("damaged", "the end line's counts do not match the file");
  }
  return { savedAt, hefur: String(header.hefur ?? "?"), torrents, wsSwarms };
}

function parseLine(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isAmount(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

/** A 40-hex-digit hash as a 20-byte binary string, or undefined. */
function hashOf(v: unknown): string | undefined {
  return typeof v === "string" && v.length === 40 ? hexToBinary(v) : undefined;
}

function readWsSwarm(v: Record<string, unknown>, lineNo: number): SavedWsSwarm {
  const bad = (what: string) => new StateFileError("damaged", `line ${lineNo}: ${what}`);
  const hash = hashOf(v.ws_info_hash);
  if (hash === undefined) {
    throw bad(`bad ws_info_hash ${JSON.stringify(v.ws_info_hash)?.slice(0, 60)}`);
  }
  if (!isCount(v.completed)) {
    throw bad(`bad WebSocket completed count ${JSON.stringify(v.completed)?.slice(0, 60)}`);
  }
  return { infoHash: hash, completed: v.completed };
}

function readTorrent(v: unknown, lineNo: number): SavedTorrent {
  const bad = (what: string) => new StateFileError("damaged", `line ${lineNo}: ${what}`);
  if (!isObject(v)) throw bad("not an object");
  const hash = hashOf(v.info_hash);
  if (hash === undefined) throw bad("bad info_hash");
  if (!isCount(v.completed) || !isCount(v.announces) || !isCount(v.first_seen_ms)) {
    throw bad("bad counters");
  }
  if (!Array.isArray(v.peers) || v.peers.length > STATE_MAX_PEERS_PER_TORRENT) {
    throw bad("bad peers");
  }
  const peers = v.peers.map((p: unknown) => {
    if (!isObject(p)) throw bad("bad peer");
    const ip = typeof p.ip === "string" ? canonicalIp(p.ip) : undefined;
    const peerId = typeof p.peer_id === "string" && p.peer_id.length === 40
      ? hexToBinary(p.peer_id)
      : undefined;
    if (
      ip === undefined || ip !== p.ip || peerId === undefined || !isCount(p.port) ||
      p.port > 65535 || !isAmount(p.left) || !isAmount(p.uploaded) || !isAmount(p.downloaded) ||
      !isCount(p.age)
    ) {
      throw bad(`bad peer ${JSON.stringify(p).slice(0, 200)}`);
    }
    return {
      ip,
      port: p.port,
      peerId,
      left: p.left,
      uploaded: p.uploaded,
      downloaded: p.downloaded,
      age: p.age,
    };
  });
  return {
    infoHash: hash,
    completed: v.completed,
    announces: v.announces,
    firstSeen: v.first_seen_ms,
    peers,
  };
}
