/**
 * `/badge/<hash>.svg`: a small SVG image of a torrent's swarm (seeders, leechers, completed) for
 * download pages to embed with `<img>`. It may be fetched from any site (CORS `*`), is cached a
 * short while, and escapes the torrent's name like any other text. An unknown or malformed hash
 * gets a grey "unknown torrent" badge with status 404, so an embedding page shows why.
 *
 * @module
 */
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import { percentDecode } from "../protocol/http_query.ts";
import type { Torrent } from "../tracker/tracker.ts";
import type { SwarmCounts } from "../protocol/types.ts";
import type { TorrentView } from "../tracker/store.ts";
import { mergeTorrent } from "../tracker/listing.ts";
import { type PageHash, parsePageHash } from "./info_hash.ts";
import { shownName, type Site } from "./site.ts";
import { countOf } from "./format.ts";
import { xml } from "./xml.ts";

/** Seconds a badge may be cached: short, since swarms change, but enough to spare the tracker. */
export const BADGE_MAX_AGE = 60;

const PATH = /^\/badge\/([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})\.svg$/;

/** Headers of every badge: any site may embed or fetch it, and it can never run a script. */
export const BADGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "image/svg+xml; charset=utf-8",
  "cache-control": `public, max-age=${BADGE_MAX_AGE}`,
  "access-control-allow-origin": "*",
  "cross-origin-resource-policy": "cross-origin",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  "x-content-type-options": "nosniff",
};

// U+202F is the narrow no-break space that groups thousands (formatCount).
const NARROW = new Set([..."ijlrtf.,:;!|·' ()\u202f"]);
const WIDE = new Set([..."mwMW@%"]);

/**
 * Approximate width in pixels of `text` in 11 px Verdana, the usual badge font. The SVG pins each
 * text to this width (`textLength`), so a font with other metrics still fits its box.
 */
export function textWidth(text: string): number {
  let w = 0;
  for (const c of text) w += NARROW.has(c) ? 4 : WIDE.has(c) ? 10 : /[0-9]/.test(c) ? 7 : 6.8;
  return Math.ceil(w);
}

/** Colours of the value part. */
const COLORS = { seeded: "#2e7d32", leeched: "#b26a00", empty: "#6b7280", unknown: "#9ca3af" };

/**
 * The SVG of a two-part badge: `label` on grey, `value` on `color`; `title` is what assistive
 * technology reads and what a browser shows on hover.
 */
export function badgeSvg(label: string, value: string, color: string, title: string): string {
  const pad = 6;
  const lw = textWidth(label) + 2 * pad;
  const vw = textWidth(value) + 2 * pad;
  const width = lw + vw;
  // Text is drawn twice, once as a shadow one pixel lower, for legibility on both colours.
  const text = (x: number, s: string, w: number) =>
    xml`
      <text x="${x}" y="15" fill="#010101" fill-opacity=".3"
        textLength="${w}">${s}</text>
      <text x="${x}" y="14" textLength="${w}">${s}</text>
    `;
  return xml`
    <svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img"
      aria-label="${title}">
      <title>${title}</title>
      <linearGradient id="s" x2="0" y2="100%">
        <stop offset="0" stop-color="#bbb" stop-opacity=".1" />
        <stop offset="1" stop-opacity=".1" />
      </linearGradient>
      <clipPath id="r">
        <rect width="${width}" height="20" rx="3" fill="#fff" />
      </clipPath>
      <g clip-path="url(#r)">
        <rect width="${lw}" height="20" fill="#555" />
        <rect x="${lw}" width="${vw}" height="20" fill="${color}" />
        <rect width="${width}" height="20" fill="url(#s)" />
      </g>
      <g fill="#fff" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"
        text-rendering="geometricPrecision">${text(pad, label, lw - 2 * pad)}${text(
          lw + pad,
          value,
          vw - 2 * pad,
        )}</g>
    </svg>
  `.text;
}

/** The badge of a tracked torrent; its name, in the title, is cut at `maxName` characters. */
export function swarmBadge(
  t: Pick<Torrent, "info"> & { swarm: SwarmCounts },
  maxName: number,
): string {
  const s = t.swarm;
  const seeders = countOf(s.complete, "seeder");
  const leechers = countOf(s.incomplete, "leecher");
  const completed = countOf(s.downloaded, "completed", "completed");
  const value = `${seeders} · ${leechers} · ${completed}`;
  const color = s.complete > 0 ? COLORS.seeded : s.incomplete > 0 ? COLORS.leeched : COLORS.empty;
  const name = t.info?.name;
  const title = `${name === undefined ? "" : shownName({ maxTorrentName: maxName }, name) + ": "}` +
    `${seeders}, ${leechers}, ${completed}`;
  return badgeSvg("swarm", value, color, title);
}

/**
 * Serves `/badge/<40 or 64 hex digits>.svg`. Browsers (WebSocket peers) are counted with the
 * others.
 */
export function badgeResponse(site: Site, req: HttpRequest): HttpResponse {
  const m = PATH.exec(percentDecode(req.path));
  const hash = m === null ? undefined : parsePageHash(m[1]);
  if (hash === undefined) return unknownBadge();
  return badge(site, hash, site.tracker.get(hash.key));
}

/** The badge of the torrent the store knows as `known`, its browsers counted in. */
function badge(site: Site, hash: PageHash, known: TorrentView | undefined): HttpResponse {
  const torrent = mergeTorrent(known, hash.key, site.browsers, site.tracker.options.open);
  if (torrent === undefined) return unknownBadge();
  const full = torrent.info?.fullHash;
  if (hash.full.length === 32 && full !== undefined && full !== hash.full) return unknownBadge();
  const body = swarmBadge(torrent, site.maxTorrentName);
  return { status: 200, headers: BADGE_HEADERS, body, keepAlive: true };
}

function unknownBadge(): HttpResponse {
  const body = badgeSvg("swarm", "unknown torrent", COLORS.unknown, "Unknown torrent");
  return { status: 404, headers: BADGE_HEADERS, body, keepAlive: true };
}
