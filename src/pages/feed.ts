/**
 * `/feed.atom`: the release feed. The tracked torrents that have metadata, newest first (when the
 * `.torrent` file appeared in the torrent directory, or was released with `hefur ctl
 * release-torrent`), as an Atom document (RFC 4287) that feed readers and download scripts can
 * follow: name, size, info hashes, magnet link, `.torrent` link and web seeds.
 *
 * The feed holds at most `feedEntries` entries; picking them is one pass over the torrents that
 * keeps a small sorted window, so its cost does not grow with the torrent count beyond that pass;
 * the pass goes in time slices, so that announces are answered meanwhile.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import { binaryToHex } from "../protocol/binary.ts";
import { magnetLink } from "../protocol/metainfo.ts";
import type { Torrent, TorrentInfo } from "../tracker/tracker.ts";
import { TimeSlices } from "../process/time_slices.ts";
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
 * The `limit` newest releases among the torrents shown to {@link add}, newest first. Torrents
 * without metadata (open mode) have no release date and are left out. A hybrid file's two
 * torrents make one release.
 */
class NewestReleases {
  // A release is at most two torrents, so the 2 × limit newest torrents hold the limit newest
  // releases. The window is kept sorted; an insertion is a binary search and a short move.
  readonly #window: TorrentInfo[] = [];
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Considers one torrent. */
  add(t: Torrent): void {
    const info = t.info;
    if (info?.addedAt === undefined) return;
    const window = this.#window;
    const size = 2 * this.#limit;
    if (window.length === size && newerFirst(info, window[size - 1]) >= 0) return;
    let lo = 0, hi = window.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (newerFirst(window[mid], info) <= 0) lo = mid + 1;
      else hi = mid;
    }
    window.splice(lo, 0, info);
    if (window.length > size) window.pop();
  }

  /** The newest releases among the torrents seen so far. */
  releases(): Release[] {
    const releases: Release[] = [];
    const byFile = new Map<string, Release>();
    for (const info of this.#window) {
      const key = info.path ?? info.fullHash;
      let r = byFile.get(key);
      if (r === undefined) {
        if (releases.length === this.#limit) continue;
        r = { info, addedAt: info.addedAt! };
        byFile.set(key, r);
        releases.push(r);
      }
      if (info.version === 1) r.v1 = info;
      else r.v2 = info;
    }
    return releases;
  }
}

/**
 * The `limit` newest releases among `torrents`, newest first. Torrents without metadata (open
 * mode) have no release date and are left out. A hybrid file's two torrents make one release.
 */
export function newestReleases(torrents: Iterable<Torrent>, limit: number): Release[] {
  const newest = new NewestReleases(limit);
  for (const t of torrents) newest.add(t);
  return newest.releases();
}

/**
 * {@link newestReleases} in time slices, so that announces are answered while it walks 100,000
 * torrents.
 */
export async function newestReleasesInSlices(
  torrents: Iterable<Torrent>,
  limit: number,
): Promise<Release[]> {
  const newest = new NewestReleases(limit);
  const slices = new TimeSlices();
  for (const t of torrents) {
    newest.add(t);
    if (slices.due()) await slices.pause();
  }
  return newest.releases();
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

/**
 * Renders the Atom document for a request (links are absolute, built from its Host). The walk of
 * the torrents goes in time slices.
 */
export async function renderFeed(site: Site, req: HttpRequest): Promise<string> {
  const { origin, hostname } = requestOrigin(req);
  const trackers = announceUrls(site, req);
  const releases = await newestReleasesInSlices(site.tracker.torrents(), site.feedEntries);
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
export async function feedResponse(site: Site, req: HttpRequest): Promise<HttpResponse> {
  const body = new TextEncoder().encode(await renderFeed(site, req));
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
