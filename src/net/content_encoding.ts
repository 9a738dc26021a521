/**
 * Response compression for the pages: `Accept-Encoding` negotiation (RFC 9110 §12.5.3, q-values
 * honoured, unlike the original: reference §3.3) and gzip of a buffered body.
 *
 * Announce and scrape never go through here: their replies are tiny and some simple clients do
 * not expect an encoded body.
 *
 * @module
 */
import { gzip } from "node:zlib";
import { promisify } from "node:util";
import type { HttpRequest, HttpResponse } from "./http_server.ts";

const gzipAsync = promisify(gzip);

/** Bodies smaller than this are sent as they are: gzip would barely help. */
export const MIN_COMPRESS_BYTES = 1024;

/**
 * True when an `Accept-Encoding` value accepts gzip: `gzip` (or `x-gzip`) with a non-zero q, or
 * `*` with a non-zero q when gzip is not listed on its own.
 *
 * @example
 * ```ts
 * import { acceptsGzip } from "./content_encoding.ts";
 * acceptsGzip("gzip, deflate, br"); // true
 * acceptsGzip("gzip;q=0, deflate"); // false
 * acceptsGzip("*;q=0.5"); // true
 * ```
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let star: number | undefined;
  for (const item of header.split(",", 64)) {
    const [coding, ...params] = item.split(";");
    const name = coding.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (Number.isNaN(q)) q = 0;
    if (name === "gzip" || name === "x-gzip") return q > 0;
    if (name === "*") star = q;
  }
  return star !== undefined && star > 0;
}

/**
 * Gzips `res.body` when the client accepts it and it is worth it; adds `Vary: Accept-Encoding` to
 * every compressible response so caches keep the two forms apart.
 */
export async function compressResponse(req: HttpRequest, res: HttpResponse): Promise<HttpResponse> {
  const headers = { ...res.headers, vary: "Accept-Encoding" };
  const body = typeof res.body === "string" ? new TextEncoder().encode(res.body) : res.body;
  if (
    body === undefined || body.length < MIN_COMPRESS_BYTES ||
    !acceptsGzip(req.headers.get("accept-encoding"))
  ) {
    return { ...res, headers, body };
  }
  const zipped = await gzipAsync(body);
  return {
    ...res,
    headers: { ...headers, "content-encoding": "gzip" },
    body: new Uint8Array(zipped.buffer, zipped.byteOffset, zipped.byteLength),
  };
}
