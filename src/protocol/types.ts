/**
 * The requests and replies that every listener (HTTP, UDP, WebSocket) exchanges with the tracker
 * core. The codecs in this folder turn wire bytes into these objects and back; the core in
 * `src/tracker/` only ever sees these objects.
 *
 * Info hashes and peer ids are kept as *binary strings*: one character per byte (char codes
 * 0–255). They are cheap Map keys, compare by value, and need no hex encoding per request. See
 * `binary.ts` for conversions.
 *
 * @module
 */

/** What a peer tells the tracker with its announce (BEP 3 / BEP 15 numbering). */
export enum AnnounceEvent {
  None = 0,
  Completed = 1,
  Started = 2,
  Stopped = 3,
}

/** Which address families a requester wants peers from (a bit mask). */
export enum Want {
  V4 = 1,
  V6 = 2,
  Both = 3,
}

/** One announce, already validated by a codec. */
export interface AnnounceRequest {
  /** The 20-byte info hash as a binary string (v2 hashes are truncated to 20 bytes by clients). */
  infoHash: string;
  /** The 20-byte peer id as a binary string. */
  peerId: string;
  /** The peer's IP address in canonical text form (`1.2.3.4` or `2001:db8::1`, never v4-mapped). */
  ip: string;
  /** The port the peer listens on, 0–65535. */
  port: number;
  uploaded: number;
  downloaded: number;
  /** Bytes the peer still needs; 0 means the peer is a seeder. */
  left: number;
  event: AnnounceEvent;
  /** How many peers the client asked for; -1 when it did not say. The core clamps it. */
  numwant: number;
  /** Which address families to return peers from. */
  want: Want;
}

/**
 * A blank announce to be filled in place: listeners and load generators reuse one object instead
 * of building a new one per packet.
 */
export function blankAnnounceRequest(): AnnounceRequest {
  return {
    infoHash: "",
    peerId: "",
    ip: "",
    port: 0,
    uploaded: 0,
    downloaded: 0,
    left: 0,
    event: AnnounceEvent.None,
    numwant: -1,
    want: Want.V4,
  };
}

/** The seeders / leechers / completed counters of one torrent. */
export interface SwarmCounts {
  /** Peers with nothing left to download. */
  complete: number;
  /** Peers still downloading. */
  incomplete: number;
  /** How many times a peer finished downloading (the completion rule of the reference §8.3). */
  downloaded: number;
}

/** A successful announce. */
export interface AnnounceReply extends SwarmCounts {
  /** Seconds the client should wait before its next announce. */
  interval: number;
  /** Seconds the client must wait at least. */
  minInterval: number;
  /** IPv4 peers, 6 bytes each (address then big-endian port). */
  peers4: Uint8Array;
  /** IPv6 peers, 18 bytes each. */
  peers6: Uint8Array;
  /** The peer ids of the peers above, IPv4 ones first, in the same order (for non-compact replies). */
  peerIds: string[];
}

/** An announce or scrape the tracker refuses, with the reason sent to the client. */
export interface Failure {
  failure: string;
}

/** What the core answers to an announce. */
export type AnnounceResult = AnnounceReply | Failure;

/** True when an announce result is a refusal. */
export function isFailure(r: AnnounceResult): r is Failure {
  return (r as Failure).failure !== undefined;
}
