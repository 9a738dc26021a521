/**
 * Page-test helpers: a live Hefur (the real `startHefur` assembly, via `tests/helpers.ts`) with
 * the page options spelled as the tests think of them, plus a few request utilities.
 */
import type { Tracker } from "../../src/tracker/tracker.ts";
import type { HttpServer } from "../../src/net/http_server.ts";
import type { ServeConfig } from "../../src/cli/args.ts";
import { AnnounceEvent, Want } from "../../src/protocol/types.ts";
import { freePort, startTestHefur } from "../helpers.ts";

/** A running test server. */
export interface PageServer {
  tracker: Tracker;
  server: HttpServer;
  /** `http://127.0.0.1:<port>`, or `https://localhost:<port>` with TLS. */
  origin: string;
  port: number;
  close(): Promise<void>;
}

/** Options of {@link startPageServer}. */
export interface PageServerOptions {
  disable?: ("stat" | "peers" | "file")[];
  /** Extra serve options (`maxPeers`, `maxTorrentSize`, `wwwDir`, …). */
  config?: Partial<ServeConfig>;
  /** PEM files: serve HTTPS only, on a free port. */
  tls?: { certPath: string; keyPath: string };
}

/** Starts Hefur on loopback in open mode; close it at the end of the test. */
export async function startPageServer(options: PageServerOptions = {}): Promise<PageServer> {
  const off = new Set(options.disable ?? []);
  const config: Partial<ServeConfig> = {
    // Page tests read what they just changed, one page right after another; the cache and the
    // render budget are tested in page_load_test.ts.
    pageCache: 0,
    pageRenderBudget: 0,
    disableStatPage: off.has("stat"),
    disablePeersPage: off.has("peers"),
    disableFilePage: off.has("file"),
    ...options.config,
  };
  if (options.tls) {
    Object.assign(config, {
      httpPort: 0,
      httpsPort: freePort(),
      httpCert: options.tls.certPath,
      httpKey: options.tls.keyPath,
    });
  }
  const hefur = await startTestHefur(config);
  const server = (options.tls ? hefur.https : hefur.http)!;
  const port = server.addr.port;
  const origin = options.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  return { tracker: hefur.tracker, server, origin, port, close: () => hefur.close() };
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
