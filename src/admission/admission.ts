/**
 * Admission: whether an announce or scrape from an address is handled at all, before it reaches
 * the tracker core. Denied networks are refused; an address past its rate is refused until its
 * bucket refills. Every listener (HTTP, HTTPS, UDP, WebSocket) asks the same instance, so a client
 * cannot escape its limit by switching protocols.
 *
 * @module
 */
import { DenyList } from "./deny_list.ts";
import { type RateLimit, RateLimiter } from "./rate_limiter.ts";

/** What is checked. */
export type RequestKind = "announce" | "scrape";

/** A refusal: the failure reason for the client, and when it may try again (seconds). */
export interface Refusal {
  reason: string;
  /** Seconds until the address may try again; undefined for "never" (denied). */
  retryIn?: number;
}

/** The failure reason sent to denied networks. */
export const DENIED_REASON = "denied: this tracker refuses requests from your network";

/** The failure reason of a rate-limited request. */
export function rateLimitedReason(kind: RequestKind, retryIn: number): string {
  return `rate limited: too many ${kind}s from your address; retry in ${retryIn} s`;
}

/** Settings of {@link Admission}. */
export interface AdmissionOptions {
  announce: RateLimit;
  scrape: RateLimit;
  /** Pages, the JSON API, the feed, badges and `/metrics` (see `page_limit.ts`); off if omitted. */
  page?: RateLimit;
  deny: DenyList;
}

/** What admission refused since start (for metrics and the JSON API). */
export interface AdmissionCounters {
  /** Requests refused because their network is denied. */
  denied: number;
  /** Announces refused by the announce rate limit. */
  announcesLimited: number;
  /** Scrapes refused by the scrape rate limit. */
  scrapesLimited: number;
  /** Page requests refused by the page rate limit. */
  pagesLimited: number;
  /** Buckets dropped while still in use, because more addresses came than the table holds. */
  bucketsEvicted: number;
  /** Buckets held now: one per address and kind of request. */
  buckets: number;
}

/**
 * The deny list and the rate limiters, asked before every announce and scrape; the page limiter
 * before every other HTTP request.
 */
export class Admission {
  readonly deny: DenyList;
  readonly announces: RateLimiter;
  readonly scrapes: RateLimiter;
  /** Requests for pages, API, feed, badges, assets and `/metrics`, per address. */
  readonly pages: RateLimiter;
  #denied = 0;

  constructor(options: AdmissionOptions, clock?: () => number) {
    this.deny = options.deny;
    this.announces = new RateLimiter(options.announce, clock);
    this.scrapes = new RateLimiter(options.scrape, clock);
    this.pages = new RateLimiter(
      options.page ?? { perMinute: 0, burst: 0, maxAddresses: 0 },
      clock,
    );
  }

  /** An admission that refuses nothing (library use and tests of other parts). */
  static open(): Admission {
    const off = { perMinute: 0, burst: 0, maxAddresses: 0 };
    return new Admission({
      announce: off,
      scrape: off,
      deny: new DenyList({ networks: [], file: "", pollMs: 0 }),
    });
  }

  /**
   * Checks a request from the canonical address `ip`. Returns undefined to let it through (a
   * token is taken), or the refusal to send.
   */
  check(ip: string, kind: RequestKind): Refusal | undefined {
    if (this.isDenied(ip)) return { reason: DENIED_REASON };
    const wait = (kind === "announce" ? this.announces : this.scrapes).take(ip);
    if (wait === 0) return undefined;
    return { reason: rateLimitedReason(kind, wait), retryIn: wait };
  }

  /** True (and counted) when `ip` lies in a denied network. */
  isDenied(ip: string): boolean {
    if (this.deny.empty || !this.deny.has(ip)) return false;
    this.#denied++;
    return true;
  }

  /** Drops idle buckets; run it on a timer. */
  sweep(): void {
    this.announces.sweep();
    this.scrapes.sweep();
    this.pages.sweep();
  }

  /** Counts since start. */
  get counters(): AdmissionCounters {
    return {
      denied: this.#denied,
      announcesLimited: this.announces.limited,
      scrapesLimited: this.scrapes.limited,
      pagesLimited: this.pages.limited,
      bucketsEvicted: this.announces.evicted + this.scrapes.evicted + this.pages.evicted,
      buckets: this.announces.size + this.scrapes.size + this.pages.size,
    };
  }

  /** Stops the deny file's polling. */
  close(): Promise<void> {
    return this.deny.close();
  }
}
