/**
 * `/stat`: every tracked torrent with its counters, the totals, and the tracker's own counters.
 *
 * The table shows at most {@link STAT_PAGE_SIZE} torrents per page (`?page=N`), so its size does
 * not grow with what outsiders announce in open mode; the totals always cover every torrent.
 *
 * @module
 */
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import { forEachPair, QueryError } from "../protocol/http_query.ts";
import { binaryToHex } from "../protocol/binary.ts";
import { magnetLink } from "../protocol/metainfo.ts";
import type { TorrentInfo } from "../tracker/tracker.ts";
import type { StoreStatus, TorrentListing, TorrentView } from "../tracker/store.ts";
import { countOf, formatBytes, formatCount, formatDuration, nounFor } from "./format.ts";
import { type Html, html } from "./html.ts";
import { announceUrls, errorPage, page, shownName, type Site } from "./site.ts";
import { TimeSlices } from "../process/time_slices.ts";
import {
  type ListingTotals,
  mergeListing,
  pageOfListingInSlices,
  requestCounts,
} from "../tracker/listing.ts";

/** Torrents listed per page of `/stat`. */
export const STAT_PAGE_SIZE = 1000;

/** Rows built between two readings of the clock (a row costs some microseconds). */
const ROWS_PER_CHECK = 4;

/** A magnet link for a torrent whose version is known. */
export function torrentMagnet(info: TorrentInfo, trackers: string[]): string {
  return magnetLink({
    name: info.name,
    version: info.version,
    infoHashV1: info.version === 1 ? info.fullHash : undefined,
    infoHashV2: info.version === 2 ? info.fullHash : undefined,
    totalLength: info.length,
    files: [],
    pieceLength: 0,
  }, trackers);
}

/** The hex form pages use to name a torrent: the full hash when known, else the 20-byte key. */
export function torrentHex(t: Pick<TorrentView, "infoHash" | "info">): string {
  return binaryToHex(t.info?.fullHash ?? t.infoHash);
}

/** Links of one torrent: magnet, `.torrent` and peers, as small icons. */
export function torrentLinks(
  site: Site,
  t: Pick<TorrentView, "infoHash" | "info">,
  trackers: string[],
): Html {
  const hex = torrentHex(t);
  const info = t.info;
  const label = info === undefined ? hex : shownName(site, info.name);
  return html`${
    info !== undefined && html`
      <a class="icon" href="${torrentMagnet(info, trackers)}" title="Magnet link"
        aria-label="Magnet link for ${label}"><img src="/img/magnet.svg" alt="" width="18" height="18"></a>
    `
  }${
    site.filePage && info?.path !== undefined &&
    html`
      <a class="icon" href="/file/${hex}.torrent" title="Download the .torrent file"
        aria-label="Torrent file of ${label}"><img src="/img/torrent.svg" alt="" width="18" height="18"></a>
    `
  }${
    site.peersPage &&
    html`
      <a class="icon" href="/peers?info_hash=${hex}" title="Peers"
        aria-label="Peers of ${label}"><img src="/img/peers.svg" alt="" width="18" height="18"></a>
    `
  }`;
}

/**
 * The "official seed" cell of a torrent: online or down, or nothing when no `--official-seed`
 * networks are configured.
 */
export function officialCell(site: Site, t: TorrentView): Html | false {
  if (!site.tracker.hasOfficialNetworks) return false;
  // A torrent only browsers announced has no UDP/HTTP seed, official or not.
  const n = site.tracker.officialSeeds(t) ?? 0;
  return html`
    <td data-label="Official seed" data-v="${n}">${n > 0
      ? html`<span class="badge official" title="${
        countOf(n, "official seeder")
      } online">online</span>`
      : html`<span class="badge down">down</span>`}</td>
  `;
}

/** A torrent's name in a cell: cut at `--max-torrent-name`, the whole name in its title. */
export function nameCell(site: Site, info: TorrentInfo | undefined): Html {
  if (info === undefined) return html`<td class="name" data-label="Name" data-v="">—</td>`;
  const shown = shownName(site, info.name);
  const title = shown !== info.name && html`
    title="${info.name}"
  `;
  return html`
    <td class="name" data-label="Name" ${title}>${shown}</td>
  `;
}

function row(site: Site, t: TorrentView, trackers: string[]): Html {
  const s = t.swarm;
  const info = t.info;
  const hex = torrentHex(t);
  return html`
    <tr>
      <td class="links">${torrentLinks(site, t, trackers)}</td>
      ${nameCell(site, info)}
      <td class="num" data-label="Version">${info ? `v${info.version}` : "—"}</td>
      <td class="hash" data-label="Info hash"><code title="${hex}">${hex}</code></td>
      <td class="num" data-label="Size" data-v="${info?.length ?? -1}">${info
        ? formatBytes(info.length)
        : "—"}</td>
      <td class="num" data-label="Seeders" data-v="${s.complete}">${formatCount(s.complete)}</td>
      <td class="num" data-label="Leechers" data-v="${s.incomplete}">${formatCount(
        s.incomplete,
      )}</td>
      <td class="num" data-label="Completed" data-v="${s.downloaded}">${formatCount(
        s.downloaded,
      )}</td>
      ${officialCell(site, t)}
    </tr>
  `;
}

function pager(current: number, pages: number): Html | false {
  if (pages <= 1) return false;
  return html`
    <nav class="pager"
      aria-label="Pages">${current > 1 &&
        html`<a href="/stat?page=${
          current - 1
        }" rel="prev">← Previous</a>`}<span>Page ${formatCount(current)} of ${formatCount(
          pages,
        )}</span>${current < pages &&
        html`<a href="/stat?page=${current + 1}" rel="next">Next →</a>`}</nav>
  `;
}

/**
 * Where the swarms are and how the store is doing: `memory`, or a shared store's redacted URL with
 * its state (`connected`, `reconnecting` …) and the age of the counts shown.
 */
function storeLine(status: StoreStatus): Html {
  return html`
    <p
      class="store">Swarms: <code id="store-name">${status.name}</code>${status.state !== "local" &&
        html`
          <span id="store-state" class="badge">${status.state}</span>
        `}${status.detail !==
          undefined && html`
        <span class="detail">(${status.detail})</span>
      `}</p>
  `;
}

/** Renders `/stat` (`?page=N` for torrents past the first {@link STAT_PAGE_SIZE}). */
export function statPage(site: Site, req: HttpRequest): HttpResponse | Promise<HttpResponse> {
  let pageNo = 1;
  try {
    forEachPair(req.query, (k, v) => {
      if (k === "page") pageNo = /^[0-9]{1,9}$/.test(v) ? Math.max(1, Number(v)) : NaN;
    }, 32);
  } catch (e) {
    if (!(e instanceof QueryError)) throw e;
    return errorPage(site, 400, "Bad request", e.message);
  }
  if (Number.isNaN(pageNo)) return errorPage(site, 400, "Bad request", "page must be a number");
  const listing = mergeListing(site.store.listing(), site.browsers, site.tracker.options.open);
  return renderStat(site, req, pageNo, listing);
}

/**
 * The browsers' part of the totals, shown under the cards when there is one: the counts above
 * include them.
 */
export function browserNote(web: ListingTotals["webtorrent"]): Html | false {
  if (web.seeders + web.leechers + web.completed === 0) return false;
  return html`
    <p class="note" id="browsers">Of these, browsers over WebSocket (WebTorrent): <span
        id="browser-seeders">${formatCount(web.seeders)}</span> seeding, <span
        id="browser-leechers">${formatCount(web.leechers)}</span> leeching, <span
        id="browser-completed">${formatCount(web.completed)}</span> completed.</p>
  `;
}

/** Walks the torrents and builds the rows in slices, so announces are answered meanwhile. */
async function renderStat(
  site: Site,
  req: HttpRequest,
  pageNo: number,
  listing: TorrentListing,
): Promise<HttpResponse> {
  const tracker = site.tracker;
  const pages = Math.max(1, Math.ceil(listing.size / STAT_PAGE_SIZE));
  if (pageNo > pages) return errorPage(site, 404, "Not found", `There is no page ${pageNo}.`);
  const trackers = announceUrls(site, req);
  const first = (pageNo - 1) * STAT_PAGE_SIZE;

  const official = tracker.hasOfficialNetworks;
  const { totals, page: shown } = await pageOfListingInSlices(
    listing,
    first,
    STAT_PAGE_SIZE,
    official ? (t) => tracker.officialSeeds(t) : undefined,
  );
  const { seeders, leechers, completed, length, officialOnline } = totals;
  const rows: Html[] = [];
  const slices = new TimeSlices(ROWS_PER_CHECK);
  for (const t of shown) {
    rows.push(row(site, t, trackers));
    if (slices.due()) await slices.pause();
  }
  const c = requestCounts(site.store.counters, site.browsers?.counters);
  const ws = c.webtorrent;
  const wsCounts = ws.announces + ws.scrapes > 0 && html`
    Over WebSocket: <span id="ws-announces">${formatCount(ws.announces)}</span> ${nounFor(
      ws.announces,
      "announce",
    )}, <span
      id="ws-scrapes">${formatCount(ws.scrapes)}</span> ${nounFor(
        ws.scrapes,
        "scrape",
      )}, <span id="ws-failures">${formatCount(ws.failures)}</span> refused.
  `;
  const content = html`
    <section class="cards" aria-label="Summary">
      <div class="card"><span class="k">Torrents</span><span class="v">${formatCount(
        listing.size,
      )}</span></div>
      <div class="card"><span class="k">Seeders</span><span class="v">${formatCount(
        seeders,
      )}</span></div>
      <div class="card"><span class="k">Leechers</span><span class="v">${formatCount(
        leechers,
      )}</span></div>
      <div class="card"><span class="k">Completed</span><span class="v">${formatCount(
        completed,
      )}</span></div>
      <div class="card"><span class="k">Total size</span><span class="v">${formatBytes(
        length,
      )}</span></div>
      ${official && html`
        <div class="card"><span class="k">Official seed online</span><span class="v" id="official-online"
          >${formatCount(officialOnline)} of ${formatCount(tracker.size)}</span></div>
      `}
    </section>
    ${browserNote(totals.webtorrent)}
    <section class="announce" aria-label="Announce URLs">
    <span class="k">Announce</span>${trackers.map((u) =>
      html`
        <code>${u}</code>
      `
    )}
    </section>
    <div class="table-wrap stack">
      <table class="data sortable" id="torrents">
        <thead>
          <tr>
            <th class="links" data-sort="none"><span class="sr">Links</span></th>
            <th data-sort="text" data-default="asc">Name</th>
            <th class="num" data-sort="text">Version</th>
            <th data-sort="plain">Info hash</th>
            <th class="num" data-sort="num">Size</th>
            <th class="num" data-sort="num">Seeders</th>
            <th class="num" data-sort="num">Leechers</th>
            <th class="num" data-sort="num">Completed</th>
            ${official && html`<th data-sort="num">Official seed</th>`}
          </tr>
        </thead>
        <tbody>${rows.length > 0 ? rows : html`
          <tr class="empty">
            <td colspan="${official ? 9 : 8}">No torrent is tracked yet.</td>
          </tr>
        `}</tbody>
        <tfoot>
          <tr>
            <th colspan="4" scope="row">Total</th>
            <td class="num" data-label="Size">${formatBytes(length)}</td>
            <td class="num" data-label="Seeders">${formatCount(seeders)}</td>
            <td class="num" data-label="Leechers">${formatCount(leechers)}</td>
            <td class="num" data-label="Completed">${formatCount(completed)}</td>
            ${official &&
              html`<td data-label="Official seed">${formatCount(officialOnline)} online</td>`}
          </tr>
        </tfoot>
      </table>
    </div>
    ${pager(pageNo, pages)}
    <p
      class="counters">Since start (${formatDuration(
        tracker.now(),
      )} ago): <span id="announces">${formatCount(
        c.announces,
      )}</span> ${nounFor(c.announces, "announce")}, <span id="scrapes">${formatCount(
        c.scrapes,
      )}</span> ${nounFor(c.scrapes, "scrape")}, <span id="failures">${formatCount(
        c.failures,
      )}</span> refused.${wsCounts}</p>
    ${storeLine(site.store.status())}
  `;
  return page(site, 200, "Torrents", content);
}
