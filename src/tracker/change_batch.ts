/**
 * Swarm changes as compact binary records: what one Hefur instance tells the others through Redis
 * (see `replication.ts`). Pure: bytes in, bytes out, no sockets.
 *
 * A record is one peer of one torrent, little-endian:
 *
 * | bytes     | field                                                                       |
 * | --------- | --------------------------------------------------------------------------- |
 * | 1         | kind: 1 upsert IPv4, 2 upsert IPv6, 3 remove IPv4, 4 remove IPv6             |
 * | 20        | info hash                                                                   |
 * | 6 or 18   | the peer's wire form (address then big-endian port), as compact replies use |
 * | 20        | upserts only: peer id                                                       |
 * | 3 × 8     | upserts only: left, uploaded, downloaded (float64)                          |
 * | 4         | upserts only: age in seconds when written (0 for a live announce)           |
 *
 * An IPv4 upsert is 75 bytes, a removal 27. Records carry no clock: the receiver dates them from
 * the Redis stream entry that carried them (its id is Redis's time), so instances' clocks do not
 * matter. Completed events travel beside the records as a count per torrent
 * ({@link encodeCompletions}), because Redis adds them to durable totals.
 *
 * @module
 */
import { binary20 } from "../protocol/binary.ts";
import { writeIp } from "../protocol/ip.ts";
import type { PeerTable } from "./peer_table.ts";

/** Record kinds (the first byte). */
export const enum ChangeKind {
  Upsert4 = 1,
  Upsert6 = 2,
  Remove4 = 3,
  Remove6 = 4,
}

/** Bytes of the largest record (an IPv6 upsert). */
export const MAX_RECORD_BYTES = 1 + 20 + 18 + 20 + 24 + 4;

/**
 * The changes an instance made since its last batch went out: appended to by every announce
 * (one record written into a growable buffer, nothing allocated), taken out every ~100 ms.
 */
export class ChangeBatch {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;
  #count = 0;
  /** Completed events per torrent (info hash as a binary string), for Redis's durable totals. */
  readonly completions: Map<string, number> = new Map();

  readonly #maxBytes: number;
  readonly #onFull: (() => void) | undefined;

  /**
   * A batch of `capacity` bytes to start with. When its records would outgrow `maxBytes`,
   * `onFull` is called first (it should {@link take} them), so the check costs the announce path
   * nothing: it sits where the buffer would grow.
   */
  constructor(capacity = 64 * 1024, maxBytes = Infinity, onFull?: () => void) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
    this.#maxBytes = maxBytes;
    this.#onFull = onFull;
  }

  /** Bytes of records waiting. */
  get byteLength(): number {
    return this.#len;
  }

  /** Records waiting. */
  get count(): number {
    return this.#count;
  }

  /** True when there is nothing to send. */
  get empty(): boolean {
    return this.#count === 0 && this.completions.size === 0;
  }

  /**
   * Records the peer in `slot` of `table` (of the torrent `infoHash`) as it is now. `age` is how
   * many seconds ago it last announced (0 on the announce path).
   */
  upsert(infoHash: string, table: PeerTable, slot: number, age = 0): void {
    const wire = table.wireLen;
    this.#reserve();
    const b = this.#buf;
    let at = this.#len;
    b[at++] = wire === 6 ? ChangeKind.Upsert4 : ChangeKind.Upsert6;
    at = writeBinary(infoHash, b, at);
    at = table.copyWireAndId(slot, b, at);
    const v = this.#view;
    v.setFloat64(at, table.left(slot), true);
    v.setFloat64(at + 8, table.uploaded(slot), true);
    v.setFloat64(at + 16, table.downloaded(slot), true);
    v.setUint32(at + 24, Math.max(0, Math.min(age, 0xffffffff)), true);
    this.#len = at + 28;
    this.#count++;
  }

  /** Records that the peer at `ip`:`port` left the torrent `infoHash`. */
  remove(infoHash: string, ip: string, port: number): void {
    this.#reserve();
    const b = this.#buf;
    const start = this.#len;
    let at = writeBinary(infoHash, b, start + 1);
    const len = writeIp(ip, b, at);
    b[start] = len === 4 ? ChangeKind.Remove4 : ChangeKind.Remove6;
    at += len;
    b[at++] = port >> 8;
    b[at++] = port & 0xff;
    this.#len = at;
    this.#count++;
  }

  /** Counts one completed event of the torrent `infoHash`. */
  completed(infoHash: string): void {
    this.completions.set(infoHash, (this.completions.get(infoHash) ?? 0) + 1);
  }

  /** The records written so far (a copy) and their count; the batch starts empty again. */
  take(): { records: Uint8Array; count: number } {
    const records = this.#buf.slice(0, this.#len);
    const count = this.#count;
    this.#len = this.#count = 0;
    return { records, count };
  }

  /** Forgets the records (not the completions): they could not be kept. Returns how many. */
  dropRecords(): number {
    const n = this.#count;
    this.#len = this.#count = 0;
    return n;
  }

  #reserve(): void {
    if (this.#len + MAX_RECORD_BYTES <= this.#buf.length) return;
    if (this.#onFull !== undefined && this.#len + MAX_RECORD_BYTES > this.#maxBytes) {
      this.#onFull();
      if (this.#len + MAX_RECORD_BYTES <= this.#buf.length) return;
    }
    const bigger = new Uint8Array(this.#buf.length * 2);
    bigger.set(this.#buf.subarray(0, this.#len));
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer);
  }
}

function writeBinary(s: string, out: Uint8Array, at: number): number {
  for (let i = 0; i < 20; i++) out[at + i] = s.charCodeAt(i);
  return at + 20;
}

/**
 * Reads records one at a time; its fields describe the current record. One reader is reused for
 * many buffers ({@link reset}).
 *
 * @example
 * ```ts
 * import { ChangeReader } from "./change_batch.ts";
 * const r = new ChangeReader();
 * r.reset(new Uint8Array(0));
 * while (r.next()) console.log(r.kind, r.port);
 * ```
 */
export class ChangeReader {
  kind: ChangeKind = ChangeKind.Upsert4;
  /** Info hash as a binary string. */
  infoHash = "";
  /** The wire form at offset 0 (6 or 18 bytes, by {@link v6}). */
  readonly wire: Uint8Array = new Uint8Array(18);
  v6 = false;
  port = 0;
  peerId = "";
  left = 0;
  uploaded = 0;
  downloaded = 0;
  age = 0;
  #buf: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(this.#buf.buffer);
  #at = 0;

  /** Starts reading `bytes`. */
  reset(bytes: Uint8Array): void {
    this.#buf = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#at = 0;
  }

  /**
   * Moves to the next record; false at the end. Throws a RangeError on a truncated or unknown
   * record (the rest of the buffer cannot be trusted).
   */
  next(): boolean {
    const b = this.#buf;
    let at = this.#at;
    if (at >= b.length) return false;
    const kind = b[at++] as ChangeKind;
    if (kind < ChangeKind.Upsert4 || kind > ChangeKind.Remove6) {
      throw new RangeError(`unknown change record kind ${kind}`);
    }
    const v6 = kind === ChangeKind.Upsert6 || kind === ChangeKind.Remove6;
    const upsert = kind === ChangeKind.Upsert4 || kind === ChangeKind.Upsert6;
    const wire = v6 ? 18 : 6;
    if (at + 20 + wire + (upsert ? 48 : 0) > b.length) {
      throw new RangeError("truncated change record");
    }
    this.kind = kind;
    this.v6 = v6;
    this.infoHash = binary20(b, at);
    at += 20;
    for (let i = 0; i < wire; i++) this.wire[i] = b[at + i];
    this.port = b[at + wire - 2] * 256 + b[at + wire - 1];
    at += wire;
    if (upsert) {
      this.peerId = binary20(b, at);
      at += 20;
      const v = this.#view;
      this.left = v.getFloat64(at, true);
      this.uploaded = v.getFloat64(at + 8, true);
      this.downloaded = v.getFloat64(at + 16, true);
      this.age = v.getUint32(at + 24, true);
      at += 28;
    }
    this.#at = at;
    return true;
  }

  /** True when the current record adds or updates a peer (false: removes it). */
  get upsert(): boolean {
    return this.kind === ChangeKind.Upsert4 || this.kind === ChangeKind.Upsert6;
  }
}

/** Completed counts per torrent as bytes: 20-byte info hash then a uint32 count, repeated. */
export function encodeCompletions(counts: ReadonlyMap<string, number>): Uint8Array {
  const out = new Uint8Array(counts.size * 24);
  const v = new DataView(out.buffer);
  let at = 0;
  for (const [hash, n] of counts) {
    at = writeBinary(hash, out, at);
    v.setUint32(at, n, true);
    at += 4;
  }
  return out;
}

/** Reads what {@link encodeCompletions} wrote; a trailing partial entry is ignored. */
export function decodeCompletions(bytes: Uint8Array): Map<string, number> {
  const out = new Map<string, number>();
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 24 <= bytes.length; at += 24) {
    const hash = binary20(bytes, at);
    out.set(hash, (out.get(hash) ?? 0) + v.getUint32(at + 20, true));
  }
  return out;
}
