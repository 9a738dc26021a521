/**
 * Puts the pages on a {@link Router}: `/stat`, `/peers`, `/file`, the release feed, the swarm
 * badges, the static assets, and an HTML 404 for everything else. Pages are gzipped when the client accepts it and keep the connection
 * open; announce and scrape are left as they are.
 *
 * @module
 */
import type { HttpHandler, HttpRequest, HttpResponse } from "../net/http_server.ts";
import type { Router } from "../net/http.ts";
import { acceptsGzip, compressResponse } from "../net/content_encoding.ts";
import type { Tracker } from "../tracker/tracker.ts";
import { badgeResponse } from "./badge.ts";
import { feedResponse } from "./feed.ts";
import { fileResponse } from "./file.ts";
import { peersPage } from "./peers.ts";
import { statPage } from "./stat.ts";
import { methodNotAllowed, notFoundPage, type PageOptions, type Site } from "./site.ts";

/** Serves one of the in-memory assets, with validators and the gzip made at start. */
function assetResponse(site: Site, req: HttpRequest): HttpResponse {
  const asset = site.assets.get(req.path);
  if (asset === undefined) return notFoundPage(site, req);
  const headers: Record<string, string> = {
    "content-type": asset.contentType,
    "cache-control": "public, max-age=3600",
    etag: asset.etag,
    "x-content-type-options": "nosniff",
  };
  if (asset.gzip !== undefined) headers.vary = "Accept-Encoding";
  if (req.headers.get("if-none-match")?.split(",").some((t) => t.trim() === asset.etag)) {
    return { status: 304, headers, keepAlive: true };
  }
  if (asset.gzip !== undefined && acceptsGzip(req.headers.get("accept-encoding"))) {
    headers["content-encoding"] = "gzip";
    return { status: 200, headers, body: asset.gzip, keepAlive: true };
  }
  return { status: 200, headers, body: asset.bytes, keepAlive: true };
}

/** Wraps a page: GET/HEAD only, then compression. */
function pageRoute(
  site: Site,
  render: (site: Site, req: HttpRequest) => HttpResponse | Promise<HttpResponse>,
  compress = true,
): HttpHandler {
  return async (req) => {
    const res = methodNotAllowed(site, req) ?? await render(site, req);
    return compress ? compressResponse(req, res) : res;
  };
}

/** Adds the pages that `options` turns on, the assets and the 404 page to `router`. */
export function addPageRoutes(router: Router, tracker: Tracker, options: PageOptions): Router {
  const site: Site = {
    ...options,
    tracker,
    store: tracker,
    startedAt: Date.now() - tracker.now() * 1000,
  };
  if (site.statPage) router.on("/stat", pageRoute(site, statPage));
  if (site.feed) router.on("/feed.atom", pageRoute(site, feedResponse));
  if (site.badges) router.prefix("/badge/", pageRoute(site, badgeResponse));
  if (site.peersPage) router.on("/peers", pageRoute(site, peersPage));
  if (site.filePage) {
    // A .torrent is already compact binary: sent as it is.
    const file = pageRoute(site, fileResponse, false);
    router.on("/file", file).prefix("/file/", file);
  }
  const assets = pageRoute(site, assetResponse, false);
  for (const p of ["/css/", "/js/", "/img/"]) router.prefix(p, assets);
  router.on("/favicon.ico", assets);
  router.notFound(pageRoute(site, notFoundPage));
  return router;
}
