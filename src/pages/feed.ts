/**
 * `/feed.atom`: the release feed. The tracked torrents that have metadata, newest first (when the
 * `.torrent` file appeared in the torrent directory, or was released with `hefur ctl
 * release-torrent`), as an Atom document (RFC 4287) that feed readers and download scripts can
 * follow: name, size, info hashes, magnet link, `.torrent` link and web seeds.
 *
 * The feed holds at most `feedEntries` entries; picking them is one pass over the torrents that
 * keeps a small sorted window, so its cost does not grow with the torrent count beyond that pass.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import { binaryToHex } from "../protocol/binary.ts";
import { magnetLink } from "../protocol/metainfo.ts";
import type { Torrent, TorrentInfo } from "../tracker/tracker.ts";
import { VERSION } from "../version.ts";
import { countOf, formatBytes } from "./format.ts";
import { html } from "./html.ts";
import { announceUrls, requestOrigin, type Site } from "./site.ts";
import { type Xml, xml } from "./xml.ts";

/** One release: the torrents of one `.torrent` file (two for a hybrid v1 + v2 torrent). */
export interface Release {
  /** The v1 torrent (SHA-1 key), when the file has one. */
  v1?: TorrentInfo;
  /** The v2 torrent (SHA-256), when the file has one. */
  v2?: TorrentInfo;
  /** Either of the above: name, size, path and web seeds are the same for both. */
  info: TorrentInfo;
  addedAt: number;
}

/** Newest first; ties by name, then hash, so the order is stable between requests. */
function newerFirst(a: TorrentInfo, b: TorrentInfo): number {
  return (b.addedAt! - a.addedAt!) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    (a.fullHash < b.fullHash ? -1 : a.fullHash > b.fullHash ? 1 : 0);
}

/**
 * The `limit` newest releases among `torrents`, newest first. Torrents without metadata (open
 * mode) have no release date and are left out. A hybrid file's two torrents make one release.
 */
export function newestReleases(torrents: Iterable<Torrent>, limit: number): Release[] {
  // A release is at most two torrents, so the 2 × limit newest torrents hold the limit newest
  // releases. The window is kept sorted; an insertion is a binary search and a short move.
  const window: TorrentInfo[] = [];
  const size = 2 * limit;
  for (const t of torrents) {
    const info = t.info;
    if (info?.addedAt === undefined) continue;
    if (window.length === size && newerFirst(info, window[size - 1]) >= 0) continue;
    let lo = 0, hi = window.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newerFirst(window[mid], info) <= 0) lo = mid + 1;
      else hi = mid;
    }
    window.splice(lo, 0, info);
    if (window.length > size) window.pop();
  }
  const releases: Release[] = [];
  const byFile = new Map<string, Release>();
  for (const info of window) {
    const key = info.path ?? info.fullHash;
    let r = byFile.get(key);
    if (r === undefined) {
      if (releases.length === limit) continue;
      r = { info, addedAt: info.addedAt! };
      byFile.set(key, r);
      releases.push(r);
    }
    if (info.version === 1) r.v1 = info;
    else r.v2 = info;
  }
  return releases;
}

/** The magnet link of a release: both hashes of a hybrid, the announce URLs, the web seeds. */
export function releaseMagnet(r: Release, trackers: string[]): string {
  const link = magnetLink({
    name: r.info.name,
    version: r.v1 && r.v2 ? "hybrid" : r.v1 ? 1 : 2,
    infoHashV1: r.v1?.fullHash,
    infoHashV2: r.v2?.fullHash,
    totalLength: r.info.length,
    files: [],
    pieceLength: 0,
  }, trackers);
  // BEP 9 / BEP 19: `ws` names a web seed.
  return link + (r.info.webSeeds ?? []).map((u) => `&ws=${encodeURIComponent(u)}`).join("");
}

/** The hex name of a release, as used in `/peers` and `/file` links: v1 first. */
function releaseHex(r: Release): string {
  return binaryToHex((r.v1 ?? r.v2!).fullHash);
}

/** The entry's id: a URN of the info hash, the same on every tracker and forever. */
export function releaseId(r: Release): string {
  if (r.v1 !== undefined) return `urn:btih:${binaryToHex(r.v1.fullHash)}`;
  return `urn:btmh:1220${binaryToHex(r.v2!.fullHash)}`;
}

function entry(site: Site, r: Release, origin: string, trackers: string[]): Xml {
  const hex = releaseHex(r);
  const updated = new Date(r.addedAt).toISOString();
  const magnet = releaseMagnet(r, trackers);
  const torrentUrl = site.filePage && r.info.path !== undefined
    ? `${origin}/file/${hex}.torrent`
    : undefined;
  const peersUrl = site.peersPage ? `${origin}/peers?info_hash=${hex}` : undefined;
  const seeds = r.info.webSeeds ?? [];
  // The summary a reader shows: HTML, escaped once more as the text of <content type="html">.
  const body = html`<p>Size: ${formatBytes(r.info.length)} (${countOf(r.info.length, "byte")})</p>
<ul>${r.v1 && html`<li>Info hash (v1): <code>${binaryToHex(r.v1.fullHash)}</code></li>`}${
    r.v2 && html`<li>Info hash (v2): <code>${binaryToHex(r.v2.fullHash)}</code></li>`
  }</ul>
<p><a href="${magnet}">Magnet link</a>${
    torrentUrl && html`
      · <a href="${torrentUrl}">.torrent file</a>
    `
  }${
    peersUrl && html`
      · <a href="${peersUrl}">Peers</a>
    `
  }</p>${
    seeds.length > 0 &&
    html`
      <p>Web seeds:</p>
      <ul>${seeds.map((u) => html`<li><a href="${u}">${u}</a></li>`)}</ul>
    `
  }`;
  const alternate = peersUrl ?? torrentUrl ?? magnet;
  return xml`
    <entry>
      <id>${releaseId(r)}</id>
      <title>${r.info.name}</title>
      <updated>${updated}</updated>
      <published>${updated}</published>
      <link rel="alternate" href="${alternate}"/>${torrentUrl &&
        xml`
          <link rel="enclosure" type="application/x-bittorrent" href="${torrentUrl}" ${r.info
                .fileSize !== undefined && xml`
            length="${r.info.fileSize}"
          `} />
        `}
      <link rel="related" title="Magnet link" href="${magnet}"/>${seeds.map((u) =>
        xml`
          <link rel="related" title="Web seed" href="${u}" />
        `
      )}
      <content type="html">${body.text}</content>
    </entry>
  `;
}

/** Renders the Atom document for a request (links are absolute, built from its Host). */
export function renderFeed(site: Site, req: HttpRequest): string {
  const { origin, hostname } = requestOrigin(req);
  const trackers = announceUrls(site, req);
  const releases = newestReleases(site.tracker.torrents(), site.feedEntries);
  // An empty feed is as old as the tracker.
  const updated = new Date(releases[0]?.addedAt ?? site.startedAt).toISOString();
  const self = `${origin}/feed.atom`;
  return XML_DECLARATION + xml`
    <feed xmlns="http://www.w3.org/2005/Atom">
      <id>${self}</id>
      <title>${site.feedTitle}</title>
      <subtitle>Torrents tracked at ${hostname}, newest first</subtitle>
      <updated>${updated}</updated>
      <author><name>${hostname}</name></author>
      <generator version="${VERSION}">Hefur</generator>
      <link rel="self" type="application/atom+xml" href="${self}"/>${site.statPage && xml`
        <link rel="alternate" type="text/html" href="${origin}/stat" />
      `}${releases.map((r) => entry(site, r, origin, trackers))}
    </feed>
  `.text.trim() + "\n";
}

/** Must be the very first bytes of the document. */
const XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n';

/**
 * Serves `/feed.atom`, with an entity tag so that a feed reader polling an unchanged feed gets a
 * 304 and no body.
 */
export function feedResponse(site: Site, req: HttpRequest): HttpResponse {
  const body = new TextEncoder().encode(renderFeed(site, req));
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  const headers: Record<string, string> = {
    "content-type": "application/atom+xml; charset=utf-8",
    "cache-control": "public, max-age=60",
    etag,
    "x-content-type-options": "nosniff",
  };
  if (req.headers.get("if-none-match")?.split(",").some((t) => t.trim() === etag)) {
    return { status: 304, headers, keepAlive: true };
  }
  return { status: 200, headers, body, keepAlive: true };
}
