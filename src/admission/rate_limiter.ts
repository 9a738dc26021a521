/**
 * Per-address token buckets: each address (each /64 for IPv6, since one host or one customer
 * usually holds a whole /64) may make `burst` requests at once, then `rate` per minute.
 *
 * The table is bounded however many addresses appear. A full bucket is the same as no bucket, so
 * buckets that have refilled are dropped (by {@link RateLimiter.sweep}, and when the table is
 * full); if every bucket is still in use when a new address comes, the oldest buckets go. A flood
 * from more addresses than the table holds can then get a fresh burst per address, but never more
 * memory.
 *
 * The cost per request is one `Map` look-up and a little arithmetic (plus building the /64 key
 * of an IPv6 address).
 *
 * @module
 */

/** Settings of one limiter. */
export interface RateLimit {
  /** Requests per minute per address, sustained. 0 turns the limiter off. */
  perMinute: number;
  /** Requests an idle address may make at once. */
  burst: number;
  /** Most addresses tracked at once. */
  maxAddresses: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was computed (ms of the limiter's clock). */
  at: number;
}

/**
 * The key of an address: IPv4 as it is, IPv6 cut to its /64 (its first four groups, `::`
 * expanded as far as they need), from the canonical text form of `ip.ts`. No suffix is added:
 * building a longer string per request costs more than the rest of the check.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressKey } from "./rate_limiter.ts";
 * assert.equal(addressKey("192.0.2.1"), "192.0.2.1");
 * assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2");
 * assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0");
 * assert.equal(addressKey("::1"), "0:0:0:0");
 * ```
 */
export function addressKey(ip: string): string {
  if (ip.indexOf(":") < 0) return ip;
  // Fast path: four full groups before any `::`.
  for (let i = 0, colons = 0; i < ip.length; i++) {
    if (ip.charCodeAt(i) !== 58) continue;
    if (ip.charCodeAt(i + 1) === 58) break;
    if (++colons === 4) return ip.slice(0, i);
  }
  const gap = ip.indexOf("::");
  let groups: string[];
  if (gap < 0) {
    groups = ip.split(":", 4);
  } else {
    const head = gap === 0 ? [] : ip.slice(0, gap).split(":");
    if (head.length >= 4) {
      groups = head.slice(0, 4);
    } else {
      const tailText = ip.slice(gap + 2);
      const tail = tailText === "" ? [] : tailText.split(":");
      // An embedded IPv4 tail (`::1.2.3.4`) counts as two groups.
      const tailGroups = tail.length + (tailText.includes(".") ? 1 : 0);
      const zeros = 8 - head.length - tailGroups;
      groups = head;
      for (let i = 0; i < zeros && groups.length < 4; i++) groups.push("0");
      for (let i = 0; groups.length < 4 && i < tail.length; i++) groups.push(tail[i]);
    }
  }
  return groups.join(":");
}

/** Token buckets per address, bounded in number. */
export class RateLimiter {
  readonly limit: RateLimit;
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;
  readonly #clock: () => number;
  /** When the table was last swept to make room: full sweeps at most once a second. */
  #sweptAt = -Infinity;
  /** Requests refused since start. */
  limited = 0;
  /** Buckets dropped while still in use, to keep under `maxAddresses`. */
  evicted = 0;

  constructor(limit: RateLimit, clock: () => number = () => performance.now()) {
    this.limit = limit;
    this.#perMs = limit.perMinute / 60_000;
    this.#clock = clock;
  }

  /** True when this limiter refuses nothing. */
  get off(): boolean {
    return this.limit.perMinute === 0;
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes a token for `ip`. Returns 0 when the request may go on, else the seconds until the
   * address has a token again (at least 1).
   */
  take(ip: string): number {
    if (this.#perMs === 0) return 0;
    const key = addressKey(ip);
    const now = this.#clock();
    const burst = this.limit.burst;
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.limit.maxAddresses) this.#makeRoom(now);
      b = { tokens: burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + (now - b.at) * this.#perMs);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    this.limited++;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#perMs / 1000));
  }

  /** Drops the buckets that have refilled (they hold nothing a new bucket would not). */
  sweep(): number {
    const now = this.#clock();
    const burst = this.limit.burst;
    let dropped = 0;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= burst) {
        this.#buckets.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  #makeRoom(now: number): void {
    if (now - this.#sweptAt >= 1000) {
      this.#sweptAt = now;
      if (this.sweep() > 0) return;
    }
    // Still full of busy buckets: drop the oldest sixteenth at once, so a flood of new addresses
    // pays this loop once per many requests.
    let n = Math.max(1, this.limit.maxAddresses >> 4);
    for (const key of this.#buckets.keys()) {
      this.#buckets.delete(key);
      this.evicted++;
      if (--n === 0) break;
    }
  }
}
