/**
 * What every page shares: the assets, which pages are on, the page shell and the error pages.
 *
 * @module
 */
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import type { Tracker } from "../tracker/tracker.ts";
import { VERSION } from "../version.ts";
import type { Assets } from "./assets.ts";
import { formatDuration } from "./format.ts";
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
}

/** The tracker and the page settings, handed to every page. */
export interface Site extends PageOptions {
  tracker: Tracker;
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
  const nav: HtmlValue = site.statPage && html`<a href="/stat">Torrents</a>`;
  const body = site.assets.layout.fill({
    title,
    nav,
    content,
    version: VERSION,
    uptime: formatDuration(site.tracker.now()),
  });
  return { status, headers: PAGE_HEADERS, body: body.text, keepAlive: true };
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
  const m = HOST.exec(req.headers.get("host") ?? "");
  const host = m === null ? "localhost" : m[0];
  const hostname = m === null ? "localhost" : m[1];
  const urls = [`${req.secure ? "https" : "http"}://${host}/announce`];
  const udp = site.udpPort();
  if (udp !== 0) urls.push(`udp://${hostname}:${udp}/announce`);
  return urls;
}
