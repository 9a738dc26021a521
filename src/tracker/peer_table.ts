/**
 * The peers of one address family in one swarm, packed into a single buffer.
 *
 * A tracker holds millions of peers, so a peer is not a JavaScript object but a *slot* in typed
 * arrays (about 75 bytes instead of about 300 for an object, its key string and its `Map` entry).
 * The arrays are views of one `ArrayBuffer` per table, laid out field by field (a structure of
 * arrays) rather than peer by peer, so that what a reply reads is contiguous:
 *
 * | per slot      | field                                                                    |
 * | ------------- | ------------------------------------------------------------------------ |
 * | 3 × float64   | left, uploaded, downloaded                                               |
 * | 3 × int32     | previous and next slot in announce order, last announce (tracker clock)  |
 * | int32         | peer id tag: a hash of its 20 bytes                                      |
 * | 2 × int32     | the index (two cells per slot)                                           |
 * | `addrLen + 2` | the wire form: address then big-endian port (6 or 18 bytes)              |
 * | 20            | peer id                                                                  |
 *
 * Four structures keep the cost of an announce constant:
 *
 * - **slots are dense**: slots `0 … size-1` are all live; removing one moves the last into the
 *   hole. A reply copies the wire forms of consecutive slots, starting from a rotating cursor, so
 *   successive announces see different parts of a large swarm. The wire forms lie end to end, so
 *   a reply of 50 peers reads 300 contiguous bytes, not 50 scattered records (measured: a quarter
 *   less time per announce than records of 62 bytes, with 100 peers in each of 1,000 swarms).
 * - **peer id tags**: leaving the requester's own id out of a reply compares one integer per
 *   peer, read from a contiguous array; the 20 bytes are compared only when tags match. The tag
 *   hashes the whole id: ids often share a client prefix, and some clients (and load generators)
 *   number their peers, so no fixed 4 bytes of an id tell peers apart.
 * - **an index** (open addressing, linear probing) finds a slot by its wire form, so an announce
 *   never scans the swarm.
 * - **a linked list in announce order**: each announce moves its slot to the tail, so the head is
 *   always the peer heard from longest ago. Expiry and eviction only look at the head.
 *
 * @module
 */

const ID_LEN = 20;
const NONE = -1;
/** Int32 fields per slot, at `INTS · slot`: previous, next, last seen. */
const INTS = 3;
const PREV = 0;
const NEXT = 1;
const SEEN = 2;

/** FNV-1a's starting value and prime: peer-id tags and the index hash both use it. */
const FNV_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

// The last id tagged and its tag: an announce tags the requester's id when it records it, and
// needs the tag again to leave that id out of the reply.
let taggedId = "";
let lastTag = 0;

// What every empty table points at: never written, since a table allocates before its first add.
const EMPTY_F64 = new Float64Array(0);
const EMPTY_INTS = new Int32Array(1);
const EMPTY_BYTES = new Uint8Array(0);

/** The tag that stands for a peer id: FNV-1a over its 20 bytes. */
function idTag(id: string): number {
  if (id === taggedId) return lastTag;
  let h = FNV_BASIS;
  for (let i = 0; i < ID_LEN; i++) h = Math.imul(h ^ id.charCodeAt(i), FNV_PRIME);
  taggedId = id;
  lastTag = h;
  return h;
}

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
  #capacity = 0;
  /** left, uploaded, downloaded of slot s at 3s, 3s+1, 3s+2. */
  #f64!: Float64Array;
  /** The int32 fields of the slots, then their tags from {@link #tagsAt}, then the index. */
  #ints!: Int32Array;
  /** Wire forms end to end, then peer ids from {@link #idsAt}. */
  #bytes!: Uint8Array;
  #idsAt = 0;
  #tagsAt = 0;
  /** Index cells hold a slot plus one, 0 for an empty cell; their number is a power of two. */
  #indexAt = 0;
  #mask = 0;
  #size = 0;
  #head = NONE;
  #tail = NONE;
  /** Where the next selection starts. */
  #cursor = 0;

  /** An empty table holds no buffer until its first peer: most torrents are idle most of the time. */
  constructor(wireLen: 6 | 18) {
    this.wireLen = wireLen;
    this.#release();
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
    return this.#ints[slot * INTS + SEEN];
  }

  /** How much the peer in `slot` still has to download (0 for a seeder). */
  left(slot: number): number {
    return this.#f64[slot * 3];
  }

  /** How much the peer in `slot` has uploaded. */
  uploaded(slot: number): number {
    return this.#f64[slot * 3 + 1];
  }

  /** How much the peer in `slot` has downloaded. */
  downloaded(slot: number): number {
    return this.#f64[slot * 3 + 2];
  }

  /**
   * Copies the wire form then the peer id of `slot` into `out` at `at` (a change record for the
   * other instances); returns the offset after them.
   */
  copyWireAndId(slot: number, out: Uint8Array, at: number): number {
    const b = this.#bytes;
    const w = this.wireLen;
    for (let i = 0, from = slot * w; i < w; i++) out[at++] = b[from + i];
    for (let i = 0, from = this.#idsAt + slot * ID_LEN; i < ID_LEN; i++) out[at++] = b[from + i];
    return at;
  }

  /** The wire form (address then port) of the peer in `slot`: a view, valid until a change. */
  wire(slot: number): Uint8Array {
    const at = slot * this.wireLen;
    return this.#bytes.subarray(at, at + this.wireLen);
  }

  /** Slot of the peer whose wire form is `key[0, wireLen)`, or -1. */
  find(key: Uint8Array): number {
    const ints = this.#ints;
    const mask = this.#mask;
    const at = this.#indexAt;
    for (let cell = this.#hash(key, 0) & mask;; cell = (cell + 1) & mask) {
      const entry = ints[at + cell];
      if (entry === 0) return NONE;
      if (this.#keyEquals(entry - 1, key)) return entry - 1;
    }
  }

  /** Adds a peer whose wire form is `key`; returns its slot. The caller then calls {@link set}. */
  add(key: Uint8Array): number {
    if (this.#size === this.#capacity) this.#resize(this.#size * 2);
    const slot = this.#size++;
    const w = this.wireLen;
    const b = this.#bytes;
    for (let i = 0, to = slot * w; i < w; i++) b[to + i] = key[i];
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
    const b = this.#bytes;
    const from = this.#idsAt + slot * ID_LEN;
    // The id's bytes and its tag (FNV-1a, as idTag computes it) in one pass; the tag is kept for
    // the reply's select().
    let tag = FNV_BASIS;
    for (let i = 0; i < ID_LEN; i++) {
      const c = peerId.charCodeAt(i);
      b[from + i] = c;
      tag = Math.imul(tag ^ c, FNV_PRIME);
    }
    taggedId = peerId;
    lastTag = tag;
    const f = this.#f64;
    f[slot * 3] = left;
    f[slot * 3 + 1] = uploaded;
    f[slot * 3 + 2] = downloaded;
    const ints = this.#ints;
    ints[this.#tagsAt + slot] = tag;
    ints[slot * INTS + SEEN] = now;
    if (slot !== this.#tail) {
      this.#unlink(slot);
      this.#linkTail(slot);
    }
  }

  /** Removes the peer in `slot`; the last one moves into its place. */
  remove(slot: number): void {
    this.#indexDelete(slot);
    this.#unlink(slot);
    const last = --this.#size;
    if (slot !== last) this.#move(last, slot);
    // Give memory back when a swarm shrinks a lot (a flood that went away) or empties.
    if (this.#size === 0) this.#release();
    else if (this.#capacity > 64 && this.#size * 4 < this.#capacity) {
      this.#resize(this.#capacity / 2);
    }
  }

  /** Removes every peer. */
  clear(): void {
    this.#size = 0;
    this.#head = this.#tail = NONE;
    this.#release();
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
    const b = this.#bytes;
    const ints = this.#ints;
    const tags = this.#tagsAt;
    const tag = idTag(selfId);
    let slot = this.#cursor < count ? this.#cursor : 0;
    let got = 0;
    let seen = 0;
    let to = offset;
    // Walk the slots from the cursor, in stretches of peers that are all chosen: a stretch ends
    // at the requester, at a peer with its id, at the end of the table (the walk wraps around)
    // or when enough peers were found. Each stretch is copied in one go.
    while (got < n && seen < count) {
      const stop = Math.min(count, slot + (count - seen), slot + (n - got));
      let end = slot;
      while (
        end < stop && end !== self && (ints[tags + end] !== tag || !this.#idEquals(end, selfId))
      ) end++;
      to = copyRun(b, slot * w, end * w, out, to);
      if (ids !== undefined) { for (let s = slot; s < end; s++) ids.push(this.#idString(s)); }
      got += end - slot;
      seen += end - slot;
      // Stopped at the requester or at a peer with its id: step over it.
      if (end < stop) {
        end++;
        seen++;
      }
      slot = end === count ? 0 : end;
    }
    this.#cursor = slot;
    return got;
  }

  /** A decoded copy of the peer in `slot`, for pages and APIs (not for the announce path). */
  snapshot(slot: number): PeerSnapshot {
    const w = this.wireLen;
    const b = this.#bytes;
    const f = this.#f64;
    return {
      compact: b.slice(slot * w, slot * w + w),
      port: b[slot * w + w - 2] * 256 + b[slot * w + w - 1],
      peerId: this.#idString(slot),
      left: f[slot * 3],
      uploaded: f[slot * 3 + 1],
      downloaded: f[slot * 3 + 2],
      lastSeen: this.#ints[slot * INTS + SEEN],
    };
  }

  /** Slots in announce order, the peer heard from longest ago first. */
  *slots(): Generator<number> {
    for (let s = this.#head; s !== NONE; s = this.#ints[s * INTS + NEXT]) yield s;
  }

  /** Slot after `slot` in announce order, or -1. */
  next(slot: number): number {
    return this.#ints[slot * INTS + NEXT];
  }

  /** Approximate bytes held by this table (for memory reports). */
  get byteLength(): number {
    return this.#f64.buffer.byteLength;
  }

  // --- slots -------------------------------------------------------------------------------------

  /**
   * Drops the buffer of an empty table: it shares the empty arrays below, whose single index cell
   * says "no peer", until {@link add} allocates (an empty table is always full, so it does).
   */
  #release(): void {
    this.#capacity = 0;
    this.#f64 = EMPTY_F64;
    this.#ints = EMPTY_INTS;
    this.#bytes = EMPTY_BYTES;
    this.#idsAt =
      this.#tagsAt =
      this.#indexAt =
      this.#mask =
      this.#cursor =
        0;
  }

  /**
   * Gives the table room for `capacity` slots in a fresh buffer (the caller copies what it keeps).
   * Regions: float64s first (8-byte aligned), then int32s (slot fields, tags, index), then bytes.
   */
  #allocate(capacity: number): void {
    capacity = Math.max(capacity, 4);
    const cells = capacity * 2;
    const f64Bytes = capacity * 3 * 8;
    const intCount = capacity * (INTS + 1) + cells;
    const byteCount = capacity * (this.wireLen + ID_LEN);
    const buffer = new ArrayBuffer(f64Bytes + intCount * 4 + byteCount);
    this.#capacity = capacity;
    this.#f64 = new Float64Array(buffer, 0, capacity * 3);
    this.#ints = new Int32Array(buffer, f64Bytes, intCount);
    this.#bytes = new Uint8Array(buffer, f64Bytes + intCount * 4, byteCount);
    this.#idsAt = capacity * this.wireLen;
    this.#tagsAt = capacity * INTS;
    this.#indexAt = capacity * (INTS + 1);
    this.#mask = cells - 1;
  }

  #keyEquals(slot: number, key: Uint8Array): boolean {
    const w = this.wireLen;
    const b = this.#bytes;
    for (let i = 0, at = slot * w; i < w; i++) if (b[at + i] !== key[i]) return false;
    return true;
  }

  #idEquals(slot: number, id: string): boolean {
    const b = this.#bytes;
    const from = this.#idsAt + slot * ID_LEN;
    for (let i = 0; i < ID_LEN; i++) if (b[from + i] !== id.charCodeAt(i)) return false;
    return true;
  }

  #idString(slot: number): string {
    const from = this.#idsAt + slot * ID_LEN;
    return String.fromCharCode.apply(
      null,
      this.#bytes.subarray(from, from + ID_LEN) as unknown as number[],
    );
  }

  /** Moves slot `from` into slot `to` (which is free), fixing the index and the list. */
  #move(from: number, to: number): void {
    const w = this.wireLen;
    const b = this.#bytes;
    b.copyWithin(to * w, from * w, from * w + w);
    const ids = this.#idsAt;
    b.copyWithin(ids + to * ID_LEN, ids + from * ID_LEN, ids + from * ID_LEN + ID_LEN);
    this.#f64.copyWithin(to * 3, from * 3, from * 3 + 3);
    const ints = this.#ints;
    ints.copyWithin(to * INTS, from * INTS, from * INTS + INTS);
    ints[this.#tagsAt + to] = ints[this.#tagsAt + from];
    const prev = ints[to * INTS + PREV];
    const next = ints[to * INTS + NEXT];
    if (prev === NONE) this.#head = to;
    else ints[prev * INTS + NEXT] = to;
    if (next === NONE) this.#tail = to;
    else ints[next * INTS + PREV] = to;
    const mask = this.#mask;
    const at = this.#indexAt;
    for (let cell = this.#hash(b, to * w) & mask;; cell = (cell + 1) & mask) {
      if (ints[at + cell] === from + 1) {
        ints[at + cell] = to + 1;
        break;
      }
    }
    if (this.#cursor === from) this.#cursor = to;
  }

  #resize(capacity: number): void {
    const f64 = this.#f64;
    const ints = this.#ints;
    const bytes = this.#bytes;
    const idsAt = this.#idsAt;
    const tagsAt = this.#tagsAt;
    const n = this.#size;
    this.#allocate(capacity);
    this.#f64.set(f64.subarray(0, n * 3));
    this.#ints.set(ints.subarray(0, n * INTS));
    this.#ints.set(ints.subarray(tagsAt, tagsAt + n), this.#tagsAt);
    this.#bytes.set(bytes.subarray(0, n * this.wireLen));
    this.#bytes.set(bytes.subarray(idsAt, idsAt + n * ID_LEN), this.#idsAt);
    for (let s = 0; s < n; s++) this.#indexInsert(s);
  }

  // --- announce-order list -----------------------------------------------------------------------

  #linkTail(slot: number): void {
    const ints = this.#ints;
    ints[slot * INTS + PREV] = this.#tail;
    ints[slot * INTS + NEXT] = NONE;
    if (this.#tail === NONE) this.#head = slot;
    else ints[this.#tail * INTS + NEXT] = slot;
    this.#tail = slot;
  }

  #unlink(slot: number): void {
    const ints = this.#ints;
    const prev = ints[slot * INTS + PREV];
    const next = ints[slot * INTS + NEXT];
    if (prev === NONE) this.#head = next;
    else ints[prev * INTS + NEXT] = next;
    if (next === NONE) this.#tail = prev;
    else ints[next * INTS + PREV] = prev;
  }

  // --- index -------------------------------------------------------------------------------------

  /** FNV-1a over the wire form found at `from` of `key`. */
  #hash(key: Uint8Array, from: number): number {
    let h = FNV_BASIS;
    for (let i = 0; i < this.wireLen; i++) h = Math.imul(h ^ key[from + i], FNV_PRIME);
    return h >>> 0;
  }

  #hashSlot(slot: number): number {
    return this.#hash(this.#bytes, slot * this.wireLen);
  }

  #indexInsert(slot: number): void {
    const ints = this.#ints;
    const mask = this.#mask;
    const at = this.#indexAt;
    let cell = this.#hashSlot(slot) & mask;
    while (ints[at + cell] !== 0) cell = (cell + 1) & mask;
    ints[at + cell] = slot + 1;
  }

  /** Deletes by shifting later entries of the probe run back, so no tombstones pile up. */
  #indexDelete(slot: number): void {
    const ints = this.#ints;
    const mask = this.#mask;
    const at = this.#indexAt;
    let hole = this.#hashSlot(slot) & mask;
    while (ints[at + hole] !== slot + 1) hole = (hole + 1) & mask;
    for (let cell = (hole + 1) & mask; ints[at + cell] !== 0; cell = (cell + 1) & mask) {
      const home = this.#hashSlot(ints[at + cell] - 1) & mask;
      // Move the entry into the hole if its home is not in (hole, cell] (cyclically).
      const between = hole <= cell ? home > hole && home <= cell : home > hole || home <= cell;
      if (!between) {
        ints[at + hole] = ints[at + cell];
        hole = cell;
      }
    }
    ints[at + hole] = 0;
  }
}

/** Copies `from[start, end)` into `out` at `to`; returns where the copy ended in `out`. */
function copyRun(
  from: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  to: number,
): number {
  if (end <= start) return to;
  // Short runs byte by byte: a subarray costs more than copying a peer or two.
  if (end - start <= 36) {
    for (let i = start; i < end; i++) out[to++] = from[i];
    return to;
  }
  out.set(from.subarray(start, end), to);
  return to + end - start;
}
