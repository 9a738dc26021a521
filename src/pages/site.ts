/**
 * What every page shares: the assets, which pages are on, the page shell and the error pages.
 *
 * @module
 */
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import { forEachPair, QueryError } from "../protocol/http_query.ts";
import type { Tracker } from "../tracker/tracker.ts";
import type { TrackerStore } from "../tracker/store.ts";
import type { BrowserSwarms } from "../tracker/listing.ts";
import { VERSION } from "../version.ts";
import type { Assets } from "./assets.ts";
import { formatDuration } from "./format.ts";
import { truncateName } from "../protocol/metainfo.ts";
import { type Html, html, type HtmlValue } from "./html.ts";

/** Settings of the pages. */
export interface PageOptions {
  assets: Assets;
  statPage: boolean;
  peersPage: boolean;
  filePage: boolean;
  /** Largest `.torrent` file `/file` serves, in bytes. */
  maxTorrentFileBytes: number;
  /** The UDP tracker's port, 0 when there is none; asked per request since listeners start later. */
  udpPort: () => number;
  /** Serve `/feed.atom`. */
  feed: boolean;
  /** Most entries in the feed. */
  feedEntries: number;
  /** Title of the feed. */
  feedTitle: string;
  /** Serve `/badge/<hash>.svg`. */
  badges: boolean;
  /**
   * `--max-torrent-name`: names longer than this are cut (with `…`) where pages and badges show
   * them; magnet links, the feed and download file names keep the whole name.
   */
  maxTorrentName: number;
  /** This instance's WebSocket (browser) swarms, merged into every count pages show. */
  browsers?: BrowserSwarms;
}

/** The tracker, the store and the page settings, handed to every page. */
export interface Site extends PageOptions {
  /** The local tracker: the torrents this instance knows of, their metadata, the uptime. */
  tracker: Tracker;
  /** Wall-clock time the tracker started (ms since the epoch): the date of an empty feed. */
  startedAt: number;
  /** `tracker`, through the interface listeners and pages read the swarms by. */
  store: TrackerStore;
}

/**
 * Headers of every HTML page. The Content-Security-Policy allows only this site's own styles,
 * scripts and images: even if some text ever escaped escaping, it could not run a script.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** A full HTML page: `content` inside the layout of `tpl/page.html`. */
export function page(site: Site, status: number, title: string, content: Html): HttpResponse {
  const nav: HtmlValue = [
    site.statPage && html`<a href="/stat">Torrents</a>`,
    site.feed && html`<a href="/feed.atom">Feed</a>`,
  ];
  // Feed readers and browsers discover the release feed from any page.
  const head: HtmlValue = site.feed &&
    html`<link rel="alternate" type="application/atom+xml" title="${site.feedTitle}" href="/feed.atom">`;
  const body = site.assets.layout.fill({
    title,
    head,
    nav,
    content,
    version: VERSION,
    uptime: formatDuration(site.tracker.now()),
  });
  return { status, headers: PAGE_HEADERS, body: body.text, keepAlive: true };
}

/** A torrent's name as pages show it: cut at `--max-torrent-name`. */
export function shownName(site: Pick<PageOptions, "maxTorrentName">, name: string): string {
  return truncateName(name, site.maxTorrentName);
}

/** An error page: a title and a sentence, with the right status. */
export function errorPage(
  site: Site,
  status: number,
  title: string,
  message: string,
): HttpResponse {
  return page(site, status, title, html`<p class="lead">${message}</p>`);
}

/**
 * The first `info_hash` of a page's query (percent-decoded; `undefined` when there is none), or the
 * 400 page when the query itself is malformed.
 */
export function queryInfoHash(
  site: Site,
  req: HttpRequest,
): { value: string | undefined } | HttpResponse {
  let value: string | undefined;
  try {
    forEachPair(req.query, (k, v) => {
      if (k === "info_hash") value ??= v;
    }, 32);
  } catch (e) {
    if (!(e instanceof QueryError)) throw e;
    return errorPage(site, 400, "Bad request", e.message);
  }
  return { value };
}

/** The 404 page for paths that match nothing. */
export function notFoundPage(site: Site, req: HttpRequest): HttpResponse {
  return errorPage(site, 404, "Not found", `There is nothing at ${req.path}.`);
}

/** Only GET and HEAD make sense for pages; anything else gets a 405 with `Allow`. */
export function methodNotAllowed(site: Site, req: HttpRequest): HttpResponse | undefined {
  if (req.method === "GET" || req.method === "HEAD") return undefined;
  const res = errorPage(site, 405, "Method not allowed", `${req.method} is not supported here.`);
  return { ...res, headers: { ...res.headers, allow: "GET, HEAD" } };
}

const HOST = /^(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?$/;

/**
 * The announce URLs to show, built from the Host the client used (so they work from where the
 * reader is), with the scheme of this connection (the original always says `http`: reference
 * §10.2). A malformed Host is not echoed: `localhost` is shown instead.
 */
export function announceUrls(site: Site, req: HttpRequest): string[] {
  const { origin, hostname } = requestOrigin(req);
  const urls = [`${origin}/announce`];
  const udp = site.udpPort();
  if (udp !== 0) urls.push(`udp://${hostname}:${udp}/announce`);
  return urls;
}

/** Where the client reached this server, for absolute links (feeds, announce URLs). */
export interface RequestOrigin {
  /** Scheme, host and port as the client used them: `https://tracker.example:6970`. */
  origin: string;
  /** The host name alone (an IPv6 literal keeps its brackets). */
  hostname: string;
}

/**
 * The origin of absolute links, from the Host the client sent and the scheme of the connection. A
 * malformed Host is never echoed: `localhost` stands in for it.
 */
export function requestOrigin(req: HttpRequest): RequestOrigin {
  const m = HOST.exec(req.headers.get("host") ?? "");
  const host = m === null ? "localhost" : m[0];
  return {
    origin: `${req.secure ? "https" : "http"}://${host}`,
    hostname: m === null ? "localhost" : m[1],
  };
}
