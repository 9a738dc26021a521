/**
 * The peers of one address family in one swarm, packed into a single byte buffer.
 *
 * A tracker holds millions of peers, so a peer is not a JavaScript object but a fixed-size
 * *record* in a `Uint8Array` (about 70 bytes instead of about 300 for an object, its key string
 * and its `Map` entry). Each record holds:
 *
 * | bytes            | field                                                       |
 * | ---------------- | ----------------------------------------------------------- |
 * | `addrLen + 2`    | the wire form: address then big-endian port (6 or 18 bytes) |
 * | 20               | peer id                                                     |
 * | 8, 8, 8          | left, uploaded, downloaded (float64)                        |
 * | 4                | last announce, in seconds of the tracker's clock (signed)   |
 * | 4, 4             | previous and next record in announce order (a linked list)  |
 *
 * Three structures sit on top of the records, each keeping its cost per announce constant:
 *
 * - **slots are dense**: records `0 … size-1` are all live; removing one moves the last record
 *   into the hole. A reply copies the wire form of consecutive slots, starting from a rotating
 *   cursor, so successive announces see different parts of a large swarm.
 * - **an index** (open addressing, linear probing, in an `Int32Array`) finds a record by its wire
 *   form, so an announce never scans the swarm.
 * - **a linked list in announce order**: each announce moves its record to the tail, so the head
 *   is always the peer heard from longest ago. Expiry and eviction only look at the head.
 *
 * @module
 */

const ID_LEN = 20;
const NONE = -1;

/** A peer as shown on pages and in APIs: a snapshot, decoded from its record. */
export interface PeerSnapshot {
  /** Address bytes then port, as sent in compact replies. */
  compact: Uint8Array;
  port: number;
  /** Peer id as a binary string. */
  peerId: string;
  left: number;
  uploaded: number;
  downloaded: number;
  /** When the peer last announced, in seconds of the tracker's clock. */
  lastSeen: number;
}

/** The peers of one address family (IPv4 or IPv6) of one swarm. */
export class PeerTable {
  /** Bytes of the wire form: 6 for IPv4, 18 for IPv6. */
  readonly wireLen: number;
  readonly #recLen: number;
  readonly #idAt: number;
  readonly #leftAt: number;
  readonly #seenAt: number;
  readonly #prevAt: number;
  readonly #nextAt: number;

  #bytes: Uint8Array;
  #view: DataView;
  /** Slot of each key plus one, 0 for an empty cell; length is a power of two. */
  #index: Int32Array;
  #size = 0;
  #head = NONE;
  #tail = NONE;
  /** Where the next selection starts. */
  #cursor = 0;

  constructor(wireLen: 6 | 18, capacity = 4) {
    this.wireLen = wireLen;
    this.#idAt = wireLen;
    this.#leftAt = this.#idAt + ID_LEN;
    this.#seenAt = this.#leftAt + 24;
    this.#prevAt = this.#seenAt + 4;
    this.#nextAt = this.#prevAt + 4;
    this.#recLen = this.#nextAt + 4;
    this.#bytes = new Uint8Array(capacity * this.#recLen);
    this.#view = new DataView(this.#bytes.buffer);
    this.#index = new Int32Array(capacity * 2);
  }

  /** Number of peers. */
  get size(): number {
    return this.#size;
  }

  /** Slot of the peer heard from longest ago, or -1 when empty. */
  get oldest(): number {
    return this.#head;
  }

  /** When the peer in `slot` last announced. */
  lastSeen(slot: number): number {
    return this.#view.getInt32(slot * this.#recLen + this.#seenAt);
  }

  /** How much the peer in `slot` still has to download (0 for a seeder). */
  left(slot: number): number {
    return this.#view.getFloat64(slot * this.#recLen + this.#leftAt);
  }

  /** The wire form (address then port) of the peer in `slot`: a view, valid until the next change. */
  wire(slot: number): Uint8Array {
    const at = slot * this.#recLen;
    return this.#bytes.subarray(at, at + this.wireLen);
  }

  /** Slot of the peer whose wire form is `key[0, wireLen)`, or -1. */
  find(key: Uint8Array): number {
    const mask = this.#index.length - 1;
    for (let cell = this.#hash(key) & mask;; cell = (cell + 1) & mask) {
      const entry = this.#index[cell];
      if (entry === 0) return NONE;
      if (this.#keyEquals(entry - 1, key)) return entry - 1;
    }
  }

  /** Adds a peer whose wire form is `key`; returns its slot. The caller then calls {@link set}. */
  add(key: Uint8Array): number {
    if (this.#size === this.#bytes.length / this.#recLen) this.#resize(this.#size * 2);
    const slot = this.#size++;
    this.#bytes.set(key.subarray(0, this.wireLen), slot * this.#recLen);
    this.#indexInsert(slot);
    this.#linkTail(slot);
    return slot;
  }

  /**
   * Records an announce of the peer in `slot`: its peer id, counters and time, and moves it to the
   * tail of the announce order.
   */
  set(
    slot: number,
    peerId: string,
    left: number,
    uploaded: number,
    downloaded: number,
    now: number,
  ): void {
    const at = slot * this.#recLen;
    const b = this.#bytes;
    for (let i = 0; i < ID_LEN; i++) b[at + this.#idAt + i] = peerId.charCodeAt(i);
    const v = this.#view;
    v.setFloat64(at + this.#leftAt, left);
    v.setFloat64(at + this.#leftAt + 8, uploaded);
    v.setFloat64(at + this.#leftAt + 16, downloaded);
    // Signed: peers restored from a state file were last seen before this tracker started.
    v.setInt32(at + this.#seenAt, now);
    if (slot !== this.#tail) {
      this.#unlink(slot);
      this.#linkTail(slot);
    }
  }

  /** Removes the peer in `slot`; the last record moves into its place. */
  remove(slot: number): void {
    this.#indexDelete(slot);
    this.#unlink(slot);
    const last = --this.#size;
    if (slot !== last) this.#move(last, slot);
    const capacity = this.#bytes.length / this.#recLen;
    // Give memory back when a swarm shrinks a lot (a flood that went away).
    if (capacity > 64 && this.#size * 4 < capacity) this.#resize(capacity / 2);
  }

  /** Removes every peer. */
  clear(): void {
    this.#size = 0;
    this.#head = this.#tail = NONE;
    this.#cursor = 0;
    this.#bytes = new Uint8Array(4 * this.#recLen);
    this.#view = new DataView(this.#bytes.buffer);
    this.#index = new Int32Array(8);
  }

  /**
   * Copies the wire form of up to `n` peers into `out` from byte `offset`, starting at the rotating
   * cursor, skipping slot `self` and peers whose id is `selfId`. Appends their ids to `ids` when
   * given. Returns how many were copied.
   */
  select(
    n: number,
    out: Uint8Array,
    offset: number,
    self: number,
    selfId: string,
    ids: string[] | undefined,
  ): number {
    const count = this.#size;
    if (n <= 0 || count === 0) return 0;
    const w = this.wireLen;
    const rec = this.#recLen;
    const b = this.#bytes;
    let slot = this.#cursor < count ? this.#cursor : 0;
    let got = 0;
    // Ids almost always differ in their last (random) byte: test it here, call only on a match.
    const lastAt = this.#idAt + ID_LEN - 1;
    const last = selfId.charCodeAt(ID_LEN - 1);
    for (let seen = 0; seen < count && got < n; seen++) {
      const at = slot * rec;
      if (slot !== self && (b[at + lastAt] !== last || !this.#idEquals(at, selfId))) {
        const to = offset + got * w;
        for (let i = 0; i < w; i++) out[to + i] = b[at + i];
        if (ids !== undefined) ids.push(this.#idString(at));
        got++;
      }
      if (++slot === count) slot = 0;
    }
    this.#cursor = slot;
    return got;
  }

  /** A decoded copy of the peer in `slot`, for pages and APIs (not for the announce path). */
  snapshot(slot: number): PeerSnapshot {
    const at = slot * this.#recLen;
    const v = this.#view;
    const w = this.wireLen;
    return {
      compact: this.#bytes.slice(at, at + w),
      port: this.#bytes[at + w - 2] * 256 + this.#bytes[at + w - 1],
      peerId: this.#idString(at),
      left: v.getFloat64(at + this.#leftAt),
      uploaded: v.getFloat64(at + this.#leftAt + 8),
      downloaded: v.getFloat64(at + this.#leftAt + 16),
      lastSeen: v.getInt32(at + this.#seenAt),
    };
  }

  /** Slots in announce order, the peer heard from longest ago first. */
  *slots(): Generator<number> {
    for (let s = this.#head; s !== NONE; s = this.#next(s)) yield s;
  }

  /** Slot after `slot` in announce order, or -1. */
  next(slot: number): number {
    return this.#next(slot);
  }

  /** Approximate bytes held by this table (for memory reports). */
  get byteLength(): number {
    return this.#bytes.byteLength + this.#index.byteLength;
  }

  // --- records ---------------------------------------------------------------------------------

  #keyEquals(slot: number, key: Uint8Array): boolean {
    const at = slot * this.#recLen;
    const b = this.#bytes;
    for (let i = 0; i < this.wireLen; i++) if (b[at + i] !== key[i]) return false;
    return true;
  }

  #idEquals(at: number, id: string): boolean {
    const b = this.#bytes;
    const from = at + this.#idAt;
    // From the end: peer ids start with a client prefix shared by many peers ("-qB4650-") and
    // end in random bytes, so two ids usually differ at the last byte. This runs for every peer
    // a reply considers; comparing from the start cost a third of an announce (measured under UDP
    // load).
    for (let i = ID_LEN - 1; i >= 0; i--) if (b[from + i] !== id.charCodeAt(i)) return false;
    return true;
  }

  #idString(at: number): string {
    const from = at + this.#idAt;
    return String.fromCharCode.apply(
      null,
      this.#bytes.subarray(from, from + ID_LEN) as unknown as number[],
    );
  }

  /** Moves record `from` into slot `to` (which is free), fixing the index and the list. */
  #move(from: number, to: number): void {
    const rec = this.#recLen;
    this.#bytes.copyWithin(to * rec, from * rec, (from + 1) * rec);
    const prev = this.#prev(to);
    const next = this.#next(to);
    if (prev === NONE) this.#head = to;
    else this.#setNext(prev, to);
    if (next === NONE) this.#tail = to;
    else this.#setPrev(next, to);
    const mask = this.#index.length - 1;
    for (let cell = this.#hashSlot(to) & mask;; cell = (cell + 1) & mask) {
      if (this.#index[cell] === from + 1) {
        this.#index[cell] = to + 1;
        break;
      }
    }
    if (this.#cursor === from) this.#cursor = to;
  }

  #resize(capacity: number): void {
    const bytes = new Uint8Array(Math.max(capacity, 4) * this.#recLen);
    bytes.set(this.#bytes.subarray(0, this.#size * this.#recLen));
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer);
    this.#index = new Int32Array(Math.max(capacity, 4) * 2);
    for (let s = 0; s < this.#size; s++) this.#indexInsert(s);
  }

  // --- announce-order list -----------------------------------------------------------------------

  #prev(slot: number): number {
    return this.#view.getInt32(slot * this.#recLen + this.#prevAt);
  }
  #next(slot: number): number {
    return this.#view.getInt32(slot * this.#recLen + this.#nextAt);
  }
  #setPrev(slot: number, to: number): void {
    this.#view.setInt32(slot * this.#recLen + this.#prevAt, to);
  }
  #setNext(slot: number, to: number): void {
    this.#view.setInt32(slot * this.#recLen + this.#nextAt, to);
  }

  #linkTail(slot: number): void {
    this.#setPrev(slot, this.#tail);
    this.#setNext(slot, NONE);
    if (this.#tail === NONE) this.#head = slot;
    else this.#setNext(this.#tail, slot);
    this.#tail = slot;
  }

  #unlink(slot: number): void {
    const prev = this.#prev(slot);
    const next = this.#next(slot);
    if (prev === NONE) this.#head = next;
    else this.#setNext(prev, next);
    if (next === NONE) this.#tail = prev;
    else this.#setPrev(next, prev);
  }

  // --- index -------------------------------------------------------------------------------------

  /** FNV-1a over the wire form. */
  #hash(key: Uint8Array, from = 0): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < this.wireLen; i++) h = Math.imul(h ^ key[from + i], 0x01000193);
    return h >>> 0;
  }

  #hashSlot(slot: number): number {
    return this.#hash(this.#bytes, slot * this.#recLen);
  }

  #indexInsert(slot: number): void {
    const mask = this.#index.length - 1;
    let cell = this.#hashSlot(slot) & mask;
    while (this.#index[cell] !== 0) cell = (cell + 1) & mask;
    this.#index[cell] = slot + 1;
  }

  /** Deletes by shifting later entries of the probe run back, so no tombstones pile up. */
  #indexDelete(slot: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let hole = this.#hashSlot(slot) & mask;
    while (index[hole] !== slot + 1) hole = (hole + 1) & mask;
    for (let cell = (hole + 1) & mask; index[cell] !== 0; cell = (cell + 1) & mask) {
      const home = this.#hashSlot(index[cell] - 1) & mask;
      // Move the entry into the hole if its home is not in (hole, cell] (cyclically).
      const between = hole <= cell ? home > hole && home <= cell : home > hole || home <= cell;
      if (!between) {
        index[hole] = index[cell];
        hole = cell;
      }
    }
    index[hole] = 0;
  }
}
