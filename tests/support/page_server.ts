/**
 * A live in-process Hefur for page tests: the tracker, the announce/scrape routes and the pages on
 * one router, served on 127.0.0.1 with an ephemeral port (plain or TLS), assembled like
 * `src/app.ts` does.
 */
import { Tracker, type TrackerOptions } from "../../src/tracker/tracker.ts";
import { addTrackerRoutes, Router } from "../../src/net/http.ts";
import { DEFAULT_HTTP_LIMITS, HttpServer } from "../../src/net/http_server.ts";
import { Cidrs } from "../../src/protocol/ip.ts";
import { Assets } from "../../src/pages/assets.ts";
import { addPageRoutes } from "../../src/pages/routes.ts";
import type { PageOptions } from "../../src/pages/site.ts";
import { AnnounceEvent, Want } from "../../src/protocol/types.ts";

/** A running test server. */
export interface PageServer {
  tracker: Tracker;
  server: HttpServer;
  /** `http://127.0.0.1:<port>` or `https://localhost:<port>`. */
  origin: string;
  port: number;
  close(): Promise<void>;
}

/** Options of {@link startPageServer}. */
export interface PageServerOptions {
  pages?: Partial<PageOptions>;
  tracker?: Partial<TrackerOptions>;
  tls?: { cert: string; key: string };
  wwwDir?: string;
}

let sharedAssets: Assets | undefined;

/** Starts a server; close it at the end of the test. */
export function startPageServer(options: PageServerOptions = {}): PageServer {
  const tracker = new Tracker({ open: true, ...options.tracker });
  const router = addTrackerRoutes(new Router(), tracker, {
    allowProxy: false,
    maxScrapeTorrents: 74,
    allowFullScrape: false,
    scrapeInterval: 900,
    reverseProxyHeader: "x-real-ip",
    reverseProxyFrom: new Cidrs(),
  });
  const assets = options.wwwDir !== undefined
    ? new Assets(options.wwwDir)
    : (sharedAssets ??= new Assets());
  addPageRoutes(router, tracker, {
    assets,
    statPage: true,
    peersPage: true,
    filePage: true,
    maxTorrentFileBytes: 10 << 20,
    udpPort: () => 0,
    ...options.pages,
  });
  const listener = options.tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...options.tls })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = new HttpServer(listener, router.handle, DEFAULT_HTTP_LIMITS, !!options.tls);
  const port = server.addr.port;
  const origin = options.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  return { tracker, server, origin, port, close: () => server.close() };
}

/** A 20-byte binary string made of one repeated byte. */
export function hash20(byte: number): string {
  return String.fromCharCode(byte).repeat(20);
}

/** Announces a peer straight into the core (no HTTP), for setting up swarms. */
export function addPeer(
  tracker: Tracker,
  infoHash: string,
  ip: string,
  port: number,
  left: number,
  peerId = "-TT0001-" + String(port).padStart(12, "0"),
  event = AnnounceEvent.Started,
): void {
  const r = tracker.announce({
    infoHash,
    peerId,
    ip,
    port,
    uploaded: 1536,
    downloaded: 1076,
    left,
    event,
    numwant: 0,
    want: Want.V4,
  });
  if ("failure" in r) throw new Error(r.failure);
}

/** Percent-encodes every byte of a binary string. */
export function percentAll(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) out += "%" + s.charCodeAt(i).toString(16).padStart(2, "0");
  return out;
}

/**
 * Sends raw requests on one TCP connection and returns each response's head and body bytes, for
 * checking headers, keep-alive and encodings exactly. Reads at most 8 MiB in all.
 */
export async function rawRequests(
  port: number,
  requests: string[],
): Promise<{ status: number; headers: Map<string, string>; body: Uint8Array }[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const out = [];
    let buf = new Uint8Array(0);
    const readMore = async (): Promise<boolean> => {
      const chunk = new Uint8Array(65536);
      const n = await conn.read(chunk);
      if (n === null) return false;
      const grown = new Uint8Array(buf.length + n);
      grown.set(buf);
      grown.set(chunk.subarray(0, n), buf.length);
      buf = grown;
      if (buf.length > 8 << 20) throw new Error("response too large");
      return true;
    };
    for (const req of requests) {
      await conn.write(new TextEncoder().encode(req));
      let end = -1;
      while ((end = findCrlf2(buf)) < 0) {
        if (!(await readMore())) throw new Error("connection closed before a response head");
      }
      const head = new TextDecoder().decode(buf.subarray(0, end));
      const [statusLine, ...lines] = head.split("\r\n");
      const headers = new Map<string, string>();
      for (const l of lines) {
        const c = l.indexOf(":");
        headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
      }
      const length = Number(headers.get("content-length") ?? 0);
      const isHead = req.startsWith("HEAD ");
      const total = end + 4 + (isHead ? 0 : length);
      while (buf.length < total) {
        if (!(await readMore())) throw new Error("connection closed inside a body");
      }
      out.push({
        status: Number(statusLine.split(" ")[1]),
        headers,
        body: buf.slice(end + 4, total),
      });
      buf = buf.slice(total);
    }
    return out;
  } finally {
    conn.close();
  }
}

function findCrlf2(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}
