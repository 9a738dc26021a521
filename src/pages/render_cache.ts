/**
 * Render caching of the pages that read many torrents (`/stat`, `/peers`, the JSON API, the feed,
 * the badges, `/metrics`), and a budget for rendering them in total.
 *
 * With 100,000 torrents one `/stat` costs about 20 ms of CPU. The big pages render in slices
 * (`process/time_slices.ts`), so announces are answered in between, but the CPU is spent all the
 * same. So:
 *
 * - a rendered page is served again as it is for `ttlMs`, and its gzip made once for the clients
 *   that take it: a flood of identical requests costs one render per interval, the rest a `Map`
 *   look-up. The bodies held are bounded in bytes; the least recently used go first.
 * - renders share a budget of milliseconds per second. Once it is spent, a page rendered before is
 *   served as it is (stale); one never rendered gets a 503 with `Retry-After`. However many
 *   distinct URLs or Host headers are asked for, page rendering takes at most that share of the
 *   event loop. Requests for a page whose render is under way wait for it rather than render it
 *   again.
 *
 * The key of a page is everything its body depends on: the request target, the Host (absolute
 * links and announce URLs are built from it) and the scheme.
 *
 * @module
 */
import type { HttpHandler, HttpRequest, HttpResponse } from "../net/http_server.ts";
import { acceptsGzip, compressResponse } from "../net/content_encoding.ts";

/** Settings of a {@link RenderCache}. */
export interface RenderCacheOptions {
  /** Milliseconds a rendered page is served again as it is; 0 renders every request. */
  ttlMs: number;
  /** Most bytes of bodies held at once. */
  maxBytes: number;
  /** Milliseconds of rendering allowed per second, over every page; 0: no budget. */
  budgetMsPerSecond: number;
}

/**
 * Defaults: five seconds of staleness, 32 MiB of bodies, a tenth of a core for rendering (with
 * 100,000 torrents a `/stat` takes about 20 ms: five renders a second).
 */
export const DEFAULT_RENDER_CACHE: RenderCacheOptions = {
  ttlMs: 5000,
  maxBytes: 32 * 1024 * 1024,
  budgetMsPerSecond: 100,
};

/**
 * The most the budget holds: renders are spread over the second instead of running back to back
 * (pipelined requests are served one after the other, so a full second's budget could hold the
 * event loop for that long in one go).
 */
export const MAX_BUDGET_MS = 50;

/** What the cache did since start (for metrics). */
export interface RenderCacheCounters {
  /** Pages rendered (cache misses that ran the page). */
  renders: number;
  /** Requests answered from the cache, fresh or stale. */
  hits: number;
  /** Requests answered with 503 because the render budget was spent and nothing was cached. */
  busy: number;
}

interface Entry {
  key: string;
  /** The page as rendered, not compressed. */
  response: HttpResponse;
  /** Its gzipped form, made the first time a client asks for it. */
  gzip?: HttpResponse | Promise<HttpResponse>;
  /** Bytes of the bodies held. */
  bytes: number;
  /** When it was rendered (ms of the cache's clock). */
  at: number;
}

/** The paths whose pages are cached: exact, and by prefix. */
const EXACT = new Set(["/stat", "/peers", "/feed.atom", "/metrics", "/api/stats.json"]);
const PREFIXES = ["/badge/", "/api/torrents/"];

/** True for the paths whose rendering reads many torrents or peers, which the cache serves. */
export function isCachedPage(path: string): boolean {
  return EXACT.has(path) || PREFIXES.some((p) => path.startsWith(p));
}

/** Headers of the 503 sent when the render budget is spent. */
const BUSY_HEADERS = Object.freeze({
  "content-type": "text/plain; charset=utf-8",
  "cache-control": "no-store",
  "retry-after": "1",
});

/** Rendered pages by key, bounded in bytes, with the render budget. */
export class RenderCache {
  readonly options: RenderCacheOptions;
  readonly counters: RenderCacheCounters = { renders: 0, hits: 0, busy: 0 };
  /** In order of last use: the first is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #clock: () => number;
  #bytes = 0;
  /** Milliseconds of rendering left, refilled at `budgetMsPerSecond`, at most {@link MAX_BUDGET_MS}. */
  #budget: number;
  #budgetAt: number;
  /** Renders under way that finish later, by key: requests for the same page wait for them. */
  readonly #pending = new Map<string, Promise<Entry>>();

  /**
   * `clock` (ms) dates the pages and measures how long each render took, so it must be precise:
   * `performance.now()` unless a test drives it.
   */
  constructor(options: RenderCacheOptions, clock: () => number = () => performance.now()) {
    this.options = options;
    this.#clock = clock;
    this.#budget = Math.min(options.budgetMsPerSecond, MAX_BUDGET_MS);
    this.#budgetAt = clock();
  }

  /** Pages held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes of bodies held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Wraps `handler`: GET and HEAD requests for the cached paths ({@link isCachedPage}) are
   * answered from the cache when they can be; every other request goes to `handler` as it is.
   * `handler` is asked for the plain page; the cache gzips it for the clients that take gzip.
   */
  wrap(handler: HttpHandler): HttpHandler {
    return (req) => {
      if ((req.method !== "GET" && req.method !== "HEAD") || !isCachedPage(req.path)) {
        return handler(req);
      }
      const key = cacheKey(req);
      const now = this.#clock();
      const entry = this.#entries.get(key);
      if (entry !== undefined && now - entry.at < this.options.ttlMs) {
        return this.#hit(key, entry, req);
      }
      // The same page is being rendered (a shared store is awaited): wait for it.
      const pending = this.#pending.get(key);
      if (pending !== undefined) {
        this.counters.hits++;
        return pending.then((e) => this.#answer(e, req));
      }
      if (!this.#mayRender(now)) {
        if (entry !== undefined) return this.#hit(key, entry, req);
        this.counters.busy++;
        return { status: 503, headers: BUSY_HEADERS, body: "busy: try again in a second\n" };
      }
      this.counters.renders++;
      let res;
      try {
        res = handler(plainRequest(req));
      } finally {
        // What ran before the handler returned held the event loop: charged at once, so the
        // next request already sees it.
        this.#charge(now);
      }
      if (!(res instanceof Promise)) return this.#answer(this.#keep(key, res, now), req);
      const charged = this.#clock();
      const done = res.then((r) => {
        // The rest (a shared store's answer, the slices of a big page) is charged as it took,
        // waits and the announces answered between slices included: an overestimate that errs
        // on the side of the announces.
        this.#charge(charged);
        return this.#keep(key, r, now);
      }).finally(() => this.#pending.delete(key));
      this.#pending.set(key, done);
      return done.then((e) => this.#answer(e, req));
    };
  }

  /** True while the render budget has milliseconds left (always with no budget). */
  #mayRender(now: number): boolean {
    const rate = this.options.budgetMsPerSecond;
    if (rate === 0) return true;
    this.#budget = Math.min(
      rate,
      MAX_BUDGET_MS,
      this.#budget + (now - this.#budgetAt) * rate / 1000,
    );
    this.#budgetAt = now;
    return this.#budget > 0;
  }

  /** Takes the time since `since` from the budget. */
  #charge(since: number): void {
    if (this.options.budgetMsPerSecond !== 0) this.#budget -= this.#clock() - since;
  }

  /** Keeps a rendered page (a 200 only); returns its entry, kept or not. */
  #keep(key: string, res: HttpResponse, renderedAt: number): Entry {
    const body = typeof res.body === "string" ? new TextEncoder().encode(res.body) : res.body;
    const entry = { key, response: { ...res, body }, bytes: body?.length ?? 0, at: renderedAt };
    if (res.status === 200 && res.takeover === undefined && this.options.ttlMs !== 0) {
      this.#store(key, entry);
    }
    return entry;
  }

  #hit(key: string, entry: Entry, req: HttpRequest): HttpResponse | Promise<HttpResponse> {
    this.counters.hits++;
    // Most recently used last.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return this.#answer(entry, req);
  }

  /** The page in the form `req` takes (gzipped once per entry), or a 304 when it names its tag. */
  #answer(entry: Entry, req: HttpRequest): HttpResponse | Promise<HttpResponse> {
    const plain = entry.response;
    if (!acceptsGzip(req.headers.get("accept-encoding"))) return notModified(req, plain) ?? plain;
    if (entry.gzip === undefined) {
      const zipping = compressResponse(req, plain).then((zipped) => {
        entry.gzip = zipped;
        const extra = zipped.body === plain.body ? 0 : (zipped.body as Uint8Array).length;
        if (this.#entries.get(entry.key) === entry) {
          entry.bytes += extra;
          this.#bytes += extra;
          this.#trim();
        }
        return zipped;
      });
      entry.gzip = zipping;
    }
    const gzip = entry.gzip;
    if (gzip instanceof Promise) return gzip.then((z) => notModified(req, z) ?? z);
    return notModified(req, gzip) ?? gzip;
  }

  #store(key: string, entry: Entry): void {
    const old = this.#entries.get(key);
    if (old !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= old.bytes;
    }
    if (entry.bytes > this.options.maxBytes) return;
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    this.#trim();
  }

  /** Drops the least recently used pages until the bodies fit in `maxBytes`. */
  #trim(): void {
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.options.maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
  }
}

function cacheKey(req: HttpRequest): string {
  return `${req.secure ? "s" : "-"}${req.headers.get("host") ?? ""} ${req.target}`;
}

/**
 * The request as the page sees it when its rendering is cached: without `If-None-Match` and
 * `Accept-Encoding`, so the full plain page is rendered and kept; the cache answers the condition
 * ({@link notModified}) and gzips for the clients that take it.
 */
function plainRequest(req: HttpRequest): HttpRequest {
  if (!req.headers.has("if-none-match") && !req.headers.has("accept-encoding")) return req;
  const headers = new Map(req.headers);
  headers.delete("if-none-match");
  headers.delete("accept-encoding");
  return { ...req, headers };
}

/** A 304 when the response has an entity tag the request names in `If-None-Match`. */
function notModified(req: HttpRequest, res: HttpResponse): HttpResponse | undefined {
  const etag = res.headers?.etag;
  if (etag === undefined || res.status !== 200) return undefined;
  const tags = req.headers.get("if-none-match");
  if (tags === undefined || !tags.split(",").some((t) => t.trim() === etag)) return undefined;
  return { status: 304, headers: res.headers, keepAlive: res.keepAlive };
}
