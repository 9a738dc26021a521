/**
 * `/file?info_hash=…` and `/file/<hex>.torrent`: the torrent's `.torrent` file, read from where
 * the whitelist found it (the original never serves it: reference §10.4).
 *
 * @module
 */
import type { HttpRequest, HttpResponse } from "../net/http_server.ts";
import { percentDecode } from "../protocol/http_query.ts";
import { errorPage, queryInfoHash, type Site } from "./site.ts";
import { torrentByHash } from "./peers.ts";
import { torrentHex } from "./stat.ts";
import { readTorrentFile } from "../whitelist/torrent_file.ts";
import { getLogger } from "../log/mod.ts";

const log = getLogger("http");

const FRIENDLY = /^\/file\/([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})\.torrent$/;

/**
 * `Content-Disposition` for a download named after the torrent: an ASCII fallback and the UTF-8
 * name (RFC 6266 / RFC 8187), so every browser saves it under a sensible name.
 *
 * @example
 * ```ts
 * import { attachment } from "./file.ts";
 * attachment("Débian 12"); // `attachment; filename="D_bian 12.torrent"; filename*=UTF-8''D%C3%A9bian%2012.torrent`
 * ```
 */
export function attachment(name: string): string {
  const base = name.replace(/[\\/]/g, "_").slice(0, 200) || "download";
  const ascii = base.replace(/[^A-Za-z0-9 ._()\[\]+-]/g, "_");
  const utf8 = encodeURIComponent(base).replace(
    /['()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
  return `attachment; filename="${ascii}.torrent"; filename*=UTF-8''${utf8}.torrent`;
}

/** Serves the `.torrent` file of the torrent named by the query or by the friendly path. */
export async function fileResponse(site: Site, req: HttpRequest): Promise<HttpResponse> {
  const query = queryInfoHash(site, req);
  if (!("value" in query)) return query;
  let value = query.value;
  if (value === undefined) {
    const m = FRIENDLY.exec(percentDecode(req.path));
    if (m === null && req.path !== "/file") {
      return errorPage(site, 404, "Not found", "Torrent files are at /file/<info hash>.torrent.");
    }
    value = m?.[1];
  }
  const found = torrentByHash(site, value);
  if (!("swarm" in found)) return found;
  const path = found.info?.path;
  if (path === undefined) {
    return errorPage(site, 404, "No torrent file", "This tracker has no .torrent file for it.");
  }
  let bytes;
  try {
    // Bounded, and safe against a FIFO or a file that grows while it is read.
    bytes = await readTorrentFile(path, site.maxTorrentFileBytes);
  } catch (e) {
    // A file removed since the last walk is normal; anything else is worth a line in the log.
    if ((e as { code?: string }).code !== "ENOENT") {
      log.warning("/file: cannot serve {path}: {error}", { path, error: (e as Error).message });
    }
    return errorPage(site, 404, "No torrent file", "The .torrent file is no longer available.");
  }
  const headers: Record<string, string> = {
    "content-type": "application/x-bittorrent",
    "content-disposition": attachment(found.info?.name ?? torrentHex(found)),
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  };
  return { status: 200, headers, body: bytes, keepAlive: true };
}
