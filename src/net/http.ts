/**
 * The HTTP tracker: routes requests, and translates `/announce` and `/scrape` between the wire and
 * the tracker core. Pages and APIs add their own routes to the same {@link Router}.
 *
 * @module
 */
import {
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
  requestHeader,
} from "./http_server.ts";
import { parseAnnounceQuery, parseScrapeQuery, QueryError } from "../protocol/http_query.ts";
import { encodeAnnounceReply, encodeFailure, encodeScrapeReply } from "../protocol/http_reply.ts";
import { type AnnounceResult, isFailure, type SwarmCounts } from "../protocol/types.ts";
import { canonicalIp, type Cidrs } from "../protocol/ip.ts";
import { FAILURE } from "../tracker/tracker.ts";
import type { TorrentListing, TrackerStore } from "../tracker/store.ts";
import type { Admission, Refusal } from "../admission/admission.ts";
import { getLogger } from "../log/mod.ts";

const log = getLogger("http");

/**
 * Answers a request that carries an `Upgrade` header, or returns undefined to let it be routed as
 * a plain request. A response with `takeover` switches the connection to another protocol.
 */
export type UpgradeHandler = (req: HttpRequest) => HttpResponse | undefined;

/**
 * Exact paths and path prefixes mapped to handlers. Exact paths win; among prefixes the longest
 * wins. Unknown paths get a 404. Requests that ask for a protocol upgrade go first to the
 * upgrade handlers, so every listener that serves this router (HTTP and HTTPS) gets them.
 */
export class Router {
  readonly #upgrades: UpgradeHandler[] = [];
  readonly #exact = new Map<string, HttpHandler>();
  readonly #prefixes: [string, HttpHandler][] = [];
  #notFound: HttpHandler = () => ({
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "not found\n",
  });

  /** Routes one exact path (`/announce`). */
  on(path: string, handler: HttpHandler): this {
    this.#exact.set(path, handler);
    return this;
  }

  /** Routes every path that starts with `prefix` (`/file/`). */
  prefix(prefix: string, handler: HttpHandler): this {
    this.#prefixes.push([prefix, handler]);
    this.#prefixes.sort((a, b) => b[0].length - a[0].length);
    return this;
  }

  /** Adds a handler for requests with an `Upgrade` header (WebSocket). */
  upgrade(handler: UpgradeHandler): this {
    this.#upgrades.push(handler);
    return this;
  }

  /** What to answer when nothing matches. */
  notFound(handler: HttpHandler): this {
    this.#notFound = handler;
    return this;
  }

  /** The handler for a request. */
  readonly handle: HttpHandler = (req) => {
    if (this.#upgrades.length > 0 && requestHeader(req, "upgrade") !== undefined) {
      for (const u of this.#upgrades) {
        const res = u(req);
        if (res !== undefined) return res;
      }
    }
    const exact = this.#exact.get(req.path);
    if (exact !== undefined) return exact(req);
    for (const [p, h] of this.#prefixes) if (req.path.startsWith(p)) return h(req);
    return this.#notFound(req);
  };
}

/** Where the HTTP tracker may find the client's real address. */
export interface ClientAddressOptions {
  /** Header carrying the client address when set by a trusted proxy (lower case). */
  reverseProxyHeader: string;
  /** Proxies allowed to set it; empty means nobody. */
  reverseProxyFrom: Cidrs;
}

/**
 * The client's address: the TCP peer, or the address a trusted reverse proxy put in its header.
 * In a list (`X-Forwarded-For: a, b`) the last entry is the one the trusted proxy added.
 */
export function clientIp(req: HttpRequest, options: ClientAddressOptions): string {
  if (options.reverseProxyFrom.size === 0 || !options.reverseProxyFrom.has(req.remoteIp)) {
    return req.remoteIp;
  }
  const value = requestHeader(req, options.reverseProxyHeader);
  if (value === undefined) return req.remoteIp;
  const last = value.slice(value.lastIndexOf(",") + 1).trim();
  return canonicalIp(last) ?? req.remoteIp;
}

/** Settings of the announce and scrape routes. */
export interface TrackerRouteOptions extends ClientAddressOptions {
  allowProxy: boolean;
  /** Most info hashes in one scrape. */
  maxScrapeTorrents: number;
  /** Answer a scrape without info_hash with every torrent. */
  allowFullScrape: boolean;
  /** Seconds sent as `flags.min_request_interval` in scrapes. */
  scrapeInterval: number;
  /** Where the routes count what they answer (for metrics); fresh counters when omitted. */
  counters?: SchemeCounters;
  /** Deny list and rate limits, checked before anything else; none when omitted. */
  admission?: Admission;
}

/** What the announce and scrape routes answered on one scheme, for metrics. */
export interface TrackerRouteCounters {
  announces: number;
  /** Announces answered with a failure reason (bad query or refused by the core). */
  announceFailures: number;
  scrapes: number;
  scrapeFailures: number;
  /** Requests whose query could not be read. */
  badQueries: number;
}

/** Counters of the tracker routes, per scheme (the HTTP and HTTPS listeners share the routes). */
export interface SchemeCounters {
  http: TrackerRouteCounters;
  https: TrackerRouteCounters;
}

/** Counters at zero. */
export function newSchemeCounters(): SchemeCounters {
  const zero = () => ({
    announces: 0,
    announceFailures: 0,
    scrapes: 0,
    scrapeFailures: 0,
    badQueries: 0,
  });
  return { http: zero(), https: zero() };
}

// Announce and scrape replies: plain bencode, never compressed, connection closed after.
// Frozen: the server then formats these header lines once (see serializeResponse).
const BENCODE_HEADERS = Object.freeze({
  "content-type": "text/plain",
  "cache-control": "no-store",
});

function bencoded(body: Uint8Array): HttpResponse {
  return { status: 200, headers: BENCODE_HEADERS, body };
}

/** A refusal of admission, as a bencoded failure (with BEP 31 `retry in`, in minutes). */
function refused(r: Refusal): HttpResponse {
  return bencoded(encodeFailure(r.reason, r.retryIn === undefined ? undefined : r.retryIn / 60));
}

/**
 * Where synchronous announce replies are encoded: the server copies a body into its own buffer as
 * soon as the handler returns, before any other handler can run, so one buffer serves them all.
 */
const replyScratch = new Uint8Array(4096);

function announceResponse(
  result: AnnounceResult,
  compact: boolean,
  noPeerId: boolean,
  c: TrackerRouteCounters,
  into: Uint8Array,
): HttpResponse {
  if (isFailure(result)) {
    c.announceFailures++;
    return bencoded(encodeFailure(result.failure));
  }
  return bencoded(encodeAnnounceReply(result, compact, noPeerId, into));
}

/**
 * Adds `/announce` and `/scrape` for `store` to `router`, answered synchronously. The body of an
 * announce is a view of a buffer that the next one overwrites: send (or copy) it before handling
 * another request, as the HTTP server does.
 */
export function addTrackerRoutes(
  router: Router,
  store: TrackerStore,
  options: TrackerRouteOptions,
): Router {
  const counters = options.counters ?? newSchemeCounters();
  const admission = options.admission;
  router.on("/announce", (req) => {
    const c = req.secure ? counters.https : counters.http;
    c.announces++;
    const ip = clientIp(req, options);
    const refusal = admission?.check(ip, "announce");
    if (refusal !== undefined) {
      c.announceFailures++;
      return refused(refusal);
    }
    let parsed;
    try {
      parsed = parseAnnounceQuery(req.query, ip, options);
    } catch (e) {
      if (e instanceof QueryError) {
        c.badQueries++;
        c.announceFailures++;
        return bencoded(encodeFailure(e.message));
      }
      throw e;
    }
    const { compact, noPeerId } = parsed;
    const result = store.announce(parsed.request, !compact && !noPeerId);
    return announceResponse(result, compact, noPeerId, c, replyScratch);
  });

  router.on("/scrape", (req) => {
    const c = req.secure ? counters.https : counters.http;
    c.scrapes++;
    const refusal = admission?.check(clientIp(req, options), "scrape");
    if (refusal !== undefined) {
      c.scrapeFailures++;
      return refused(refusal);
    }
    let hashes: string[];
    let warning: string | undefined;
    try {
      const scrape = parseScrapeQuery(req.query, options.maxScrapeTorrents);
      hashes = scrape.infoHashes;
      if (scrape.truncated) {
        warning = `only the first ${hashes.length} info hashes are answered`;
        log.debug("scrape from {ip}: more than {max} info hashes, the first ones answered", {
          ip: clientIp(req, options),
          max: options.maxScrapeTorrents,
        });
      }
    } catch (e) {
      if (e instanceof QueryError) {
        c.badQueries++;
        c.scrapeFailures++;
        return bencoded(encodeFailure(e.message));
      }
      throw e;
    }
    if (hashes.length === 0) {
      if (!options.allowFullScrape) {
        c.scrapeFailures++;
        return bencoded(encodeFailure("full scrape is disabled: give at least one info_hash"));
      }
      store.counters.scrapes++;
      return fullScrape(store.listing());
    }
    return scrapeResponse(hashes, store.scrape(hashes), warning);
  });

  function fullScrape(listing: TorrentListing): HttpResponse {
    const entries: [string, SwarmCounts][] = [];
    for (const t of listing.torrents) entries.push([t.infoHash, t.swarm]);
    return bencoded(encodeScrapeReply(entries, options.scrapeInterval));
  }

  function scrapeResponse(
    hashes: string[],
    counts: (SwarmCounts | undefined)[],
    warning: string | undefined,
  ): HttpResponse {
    const entries: [string, SwarmCounts][] = [];
    for (let i = 0; i < hashes.length; i++) {
      const n = counts[i];
      if (n !== undefined) entries.push([hashes[i], n]);
    }
    // With a whitelist, asking only for torrents it does not hold is an error worth naming;
    // BEP 48's silent omission is kept for the hashes of a mixed request.
    if (entries.length === 0 && !store.options.open) {
      return bencoded(encodeFailure(FAILURE.notFound));
    }
    return bencoded(encodeScrapeReply(entries, options.scrapeInterval, warning));
  }
  return router;
}
