/**
 * `/peers?info_hash=…`: the peers of one torrent, the most recently heard first, at most
 * {@link PEERS_PAGE_LIMIT} of them (the page says when there are more).
 *
 * @module
 */
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import type { Peer } from "../tracker/swarm.ts";
import type { Torrent } from "../tracker/tracker.ts";
import type { IpSet } from "../protocol/ip_set.ts";
import type { SwarmView } from "../tracker/store.ts";
import { type BrowserPeer, browserPeers, mergeView } from "../tracker/listing.ts";
import { formatAge, formatBytes, formatCount, formatPeerId } from "./format.ts";
import { type Html, html } from "./html.ts";
import { type PageHash, parsePageHash } from "./info_hash.ts";
import { announceUrls, errorPage, page, queryInfoHash, shownName, type Site } from "./site.ts";
import { torrentHex, torrentLinks } from "./stat.ts";

/** Most peers listed on one page. */
export const PEERS_PAGE_LIMIT = 1000;

/**
 * The hash named by the `info_hash` parameter, or the error page to answer instead (400 for a
 * missing or malformed hash).
 */
function requestedHash(site: Site, req: HttpRequest): PageHash | HttpResponse {
  const query = queryInfoHash(site, req);
  return "value" in query ? pageHash(site, query.value) : query;
}

/** An `info_hash` value (already percent-decoded) read, or the 400 page. */
function pageHash(site: Site, value: string | undefined): PageHash | HttpResponse {
  if (value === undefined) {
    return errorPage(site, 400, "Bad request", "Which torrent? Give its info_hash.");
  }
  const hash = parsePageHash(value);
  if (hash === undefined) {
    return errorPage(
      site,
      400,
      "Bad request",
      "info_hash must be 40 or 64 hex digits, or 20 or 32 percent-encoded bytes.",
    );
  }
  return hash;
}

/** True when a v2 hash was asked for and the torrent under its 20-byte key has another one. */
function otherV2(hash: PageHash, full: string | undefined): boolean {
  return hash.full.length === 32 && full !== undefined && full !== hash.full;
}

function unknownTorrent(site: Site): HttpResponse {
  return errorPage(site, 404, "Unknown torrent", "This tracker does not track that torrent.");
}

/**
 * The torrent this instance tracks for an `info_hash` value (already percent-decoded), or an
 * error page (400 for a missing or malformed hash, 404 for one that is not tracked).
 */
export function torrentByHash(site: Site, value: string | undefined): Torrent | HttpResponse {
  const hash = pageHash(site, value);
  if (!("key" in hash)) return hash;
  const torrent = site.tracker.get(hash.key);
  if (torrent === undefined || otherV2(hash, torrent.info?.fullHash)) return unknownTorrent(site);
  return torrent;
}

function peerRow(p: Peer, now: number, official: IpSet | undefined): Html {
  const age = now - p.lastSeen;
  const mark = official !== undefined && official.has(p.ip) &&
    html`
      <span class="badge official" title="In an --official-seed network">official</span>
    `;
  return html`
    <tr>
      <td class="addr" data-label="Address"><code>${p.ip}</code></td>
      <td class="num" data-label="Port" data-v="${p.port}">${p.port}</td>
      <td data-label="State">${p.left === 0
        ? html`<span class="badge seed">seeder</span>`
        : html`<span class="badge leech">leecher</span>`}${mark}</td>
      <td class="peer-id" data-label="Peer ID"><code>${formatPeerId(p.peerId)}</code></td>
      <td class="num" data-label="Left" data-v="${p.left}">${formatBytes(p.left)}</td>
      <td class="num" data-label="Uploaded" data-v="${p.uploaded}">${formatBytes(p.uploaded)}</td>
      <td class="num" data-label="Downloaded" data-v="${p.downloaded}">${formatBytes(
        p.downloaded,
      )}</td>
      <td class="num" data-label="Last seen" data-v="${age}">${formatAge(age)}</td>
    </tr>
  `;
}

/** A browser (WebSocket) peer: no address to hand out, only where its connection comes from. */
function browserRow(p: BrowserPeer, now: number): Html {
  const age = now - p.lastSeen;
  return html`
    <tr>
      <td class="addr" data-label="Connection from"><code>${p.address ?? "—"}</code></td>
      <td data-label="State">${p.seeder
        ? html`<span class="badge seed">seeder</span>`
        : html`<span class="badge leech">leecher</span>`}<span class="badge browser"
          title="A browser, over WebSocket (WebTorrent)">browser</span></td>
      <td class="peer-id" data-label="Peer ID"><code>${formatPeerId(p.peerId)}</code></td>
      <td class="num" data-label="Last seen" data-v="${age}">${formatAge(age)}</td>
    </tr>
  `;
}

/**
 * The browsers of a torrent, in a table of their own: they have no address and port for
 * BitTorrent clients, and no transfer figures.
 */
function browserTable(site: Site, infoHash: string): Html | false {
  const { total, peers } = browserPeers(site.browsers, infoHash, PEERS_PAGE_LIMIT);
  if (total === 0) return false;
  const now = site.tracker.now();
  return html`
    <h3 id="browser-peers">Browsers (WebTorrent over WebSocket)</h3>
    ${total > peers.length &&
      html`
        <p class="note"
          id="browser-peers-limit">Showing the ${peers
            .length} most recently heard browsers of ${total}.</p>
      `}
    <div class="table-wrap">
      <table class="data sortable" id="browsers">
        <thead>
          <tr>
            <th data-sort="text">Connection from</th>
            <th data-sort="text">State</th>
            <th data-sort="text">Peer ID</th>
            <th class="num" data-sort="num">Last seen</th>
          </tr>
        </thead>
        <tbody>${peers.map((p) => browserRow(p, now))}</tbody>
      </table>
    </div>
  `;
}

/** Renders `/peers?info_hash=…`. */
export function peersPage(site: Site, req: HttpRequest): HttpResponse {
  const hash = requestedHash(site, req);
  if (!("key" in hash)) return hash;
  const view = site.store.peersOf(hash.key, PEERS_PAGE_LIMIT);
  const now = site.tracker.now();
  return renderPeers(
    site,
    req,
    hash,
    mergeView(view, hash.key, site.browsers, site.tracker.options.open, now),
  );
}

function renderPeers(
  site: Site,
  req: HttpRequest,
  hash: PageHash,
  view: SwarmView | undefined,
): HttpResponse {
  if (view === undefined || otherV2(hash, view.torrent.info?.fullHash)) {
    return unknownTorrent(site);
  }
  const t = view.torrent;
  const s = t.swarm;
  const { now, total } = view;
  const shown = view.peers;
  const hex = torrentHex(t);
  const info = t.info;
  const officialSeeds = site.tracker.officialSeeds(t);
  const official = officialSeeds === undefined ? undefined : site.tracker.options.official;
  const content = html`
    <section class="torrent-head">
      ${info === undefined
        ? html`<h2 class="name">Torrent without metadata</h2>`
        : html`<h2 class="name" title="${info.name}">${shownName(site, info.name)}</h2>`}
      <p class="hash"><code>${hex}</code></p>
      <p class="links">${torrentLinks(
        { ...site, peersPage: false },
        t,
        announceUrls(site, req),
      )}</p>
    </section>
    <section class="cards" aria-label="Summary">
    <div class="card"><span class="k">Seeders</span><span class="v">${formatCount(
      s.complete,
    )}</span></div>
    <div class="card"><span class="k">Leechers</span><span class="v">${formatCount(
      s.incomplete,
    )}</span></div>
    <div class="card"><span class="k">Completed</span><span class="v">${formatCount(
      s.downloaded,
    )}</span></div>
    ${t.webtorrent !== undefined && html`
      <div class="card"><span class="k">Of which browsers</span><span class="v" id="browser-counts"
        title="seeders / leechers / completed">${formatCount(
          t.webtorrent.complete,
        )} / ${formatCount(t.webtorrent.incomplete)} / ${formatCount(
          t.webtorrent.downloaded,
        )}</span></div>
    `}
    <div class="card"><span class="k">Size</span><span class="v">${info
      ? formatBytes(info.length)
      : "—"}</span></div>
    ${info !== undefined &&
      html`<div class="card"><span class="k">Version</span><span class="v">v${info.version}</span></div>`}
    ${officialSeeds !== undefined && html`
      <div
        class="card"><span class="k">Official seed</span><span class="v" id="official-seed">${officialSeeds >
            0
          ? html`<span class="badge official">online</span>`
          : html`<span class="badge down">down</span>`}</span></div>
    `}
    </section>
    ${total > shown.length &&
      html`
        <p class="note"
          id="peers-limit">Showing the ${formatCount(
            shown.length,
          )} most recently heard peers of ${formatCount(total)}.</p>
      `}
    <div class="table-wrap">
      <table class="data sortable" id="peers">
        <thead>
          <tr>
            <th data-sort="text">Address</th>
            <th class="num" data-sort="num">Port</th>
            <th data-sort="text">State</th>
            <th data-sort="plain">Peer ID</th>
            <th class="num" data-sort="num">Left</th>
            <th class="num" data-sort="num">Uploaded</th>
            <th class="num" data-sort="num">Downloaded</th>
            <th class="num" data-sort="num">Last seen</th>
          </tr>
        </thead>
        <tbody>${shown.length > 0 ? shown.map((p) => peerRow(p, now, official)) : html`
          <tr class="empty">
            <td colspan="8">No ${t.webtorrent !== undefined && "UDP or HTTP "}peer right now.</td>
          </tr>
        `}</tbody>
      </table>
    </div>
    ${browserTable(site, t.infoHash)}
  `;
  return page(site, 200, "Peers", content);
}
