/**
 * The page rate limit: every HTTP request that is not an announce, a scrape or a WebSocket
 * upgrade (pages, the JSON API, the feed, badges, assets, `/metrics`, 404s) takes a token from
 * its address's page bucket (per /64 for IPv6; the address a trusted reverse proxy names). Past
 * its burst an address gets 429 with `Retry-After` until the bucket refills; its announces and
 * scrapes, limited on their own buckets, still go through.
 *
 * The 429 is sent after a short delay ({@link REFUSAL_DELAY_MS}). A client that loops as fast as it
 * is answered would otherwise cost the server a connection and a refusal per round trip, thousands
 * a second, for nothing; delayed, each of its connections costs two refusals a second. The delay
 * holds nothing but a timer, and the connection counts against `--max-http-connections` as any.
 *
 * @module
 */
import type { HttpHandler, HttpResponse } from "../net/http_server.ts";
import { type ClientAddressOptions, clientIp } from "../net/http.ts";
import type { Admission } from "./admission.ts";

/** How long a refused page request waits for its 429. */
export const REFUSAL_DELAY_MS = 500;

/** Paths with their own limits (announce and scrape buckets), never counted as pages. */
const TRACKER_PATHS = new Set(["/announce", "/scrape"]);

/** The 429 answer: a short text saying when to come back, and the connection closed. */
export function tooManyPages(retryIn: number): HttpResponse {
  return {
    status: 429,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      "retry-after": String(retryIn),
    },
    body: `too many requests from your address; retry in ${retryIn} s\n`,
    // Closing drops whatever else the client pipelined, unread.
    keepAlive: false,
  };
}

/**
 * Wraps `handler` so that page requests past their address's rate get {@link tooManyPages}, after
 * `delayMs`. A request for `/` with an `Upgrade` header is a WebSocket tracker connection, which
 * has limits of its own; any other `Upgrade` header changes nothing.
 */
export function limitPages(
  handler: HttpHandler,
  admission: Admission,
  address: ClientAddressOptions,
  delayMs = REFUSAL_DELAY_MS,
): HttpHandler {
  const pages = admission.pages;
  if (pages.off) return handler;
  return (req) => {
    if (TRACKER_PATHS.has(req.path) || (req.path === "/" && req.headers.has("upgrade"))) {
      return handler(req);
    }
    const wait = pages.take(clientIp(req, address));
    if (wait === 0) return handler(req);
    const res = tooManyPages(wait);
    if (delayMs === 0) return res;
    return new Promise((resolve) => setTimeout(() => resolve(res), delayMs));
  };
}
