/**
 * The WebSocket tracker (WebTorrent): accepts WebSocket upgrades from the HTTP listeners, and
 * translates between JSON messages and the {@link WsTracker} core: replies to the announcer,
 * offers to the chosen peers, answers back to the offerer.
 *
 * What is its own: the connection bounds (in total and per client address), and one timer that
 * drives every connection's idle timeout and pings.
 *
 * @module
 */
import type { HttpRequest, HttpResponse } from "./http_server.ts";
import { type ClientAddressOptions, clientIp, type UpgradeHandler } from "./http.ts";
import { WebSocketConnection, type WebSocketLimits } from "./websocket.ts";
import { checkHandshake, HandshakeError } from "../protocol/websocket_frame.ts";
import {
  encodeAnnounceReply,
  encodeFailure,
  encodeRelayedAnswer,
  encodeRelayedOffer,
  encodeScrapeReply,
  parseWebTorrentMessage,
  WebTorrentMessageError,
  type WebTorrentScrape,
} from "../protocol/webtorrent.ts";
import type { SwarmCounts } from "../protocol/types.ts";
import type { WsTracker } from "../tracker/ws_tracker.ts";
import { type Admission, DENIED_REASON } from "../admission/admission.ts";

/** Settings of the WebSocket tracker. */
export interface WebTorrentServerOptions extends ClientAddressOptions {
  /** Most WebSocket connections open at once. */
  maxConnections: number;
  /** Most WebSocket connections from one client address. */
  maxConnectionsPerIp: number;
  /** Bounds of each connection. */
  limits: WebSocketLimits;
  /** Most offers in one announce. */
  maxOffers: number;
  /** Most info hashes in one scrape. */
  maxScrapeTorrents: number;
  /** Answer a scrape without info_hash with every WebSocket swarm. */
  allowFullScrape: boolean;
  /** Seconds sent as `flags.min_request_interval` in scrapes. */
  scrapeInterval: number;
  /** Deny list and rate limits, shared with the other listeners; none when omitted. */
  admission?: Admission;
}

/** Counters of the WebSocket listener, beside the core's. */
export interface WebTorrentServerCounters {
  /** Connections accepted since start. */
  accepted: number;
  /** Upgrades refused because a connection bound was reached. */
  refused: number;
  /** Messages refused by the codec (bad JSON, bad hashes, too many offers…). */
  badMessages: number;
  /** Upgrades and messages refused by admission (denied network, rate limit). */
  admissionRefused: number;
}

/** The WebSocket tracker over a shared {@link WsTracker}. */
export class WebTorrentServer {
  readonly #core: WsTracker<WebSocketConnection>;
  readonly #options: WebTorrentServerOptions;
  readonly #open = new Set<WebSocketConnection>();
  readonly #perIp = new Map<string, number>();
  readonly #ticker: ReturnType<typeof setInterval>;
  #closing = false;
  readonly counters: WebTorrentServerCounters = {
    accepted: 0,
    refused: 0,
    badMessages: 0,
    admissionRefused: 0,
  };

  constructor(core: WsTracker<WebSocketConnection>, options: WebTorrentServerOptions) {
    this.#core = core;
    this.#options = options;
    const every = Math.max(10, Math.min(1000, options.limits.idleTimeoutMs / 4));
    this.#ticker = setInterval(() => {
      const now = performance.now();
      for (const ws of this.#open) ws.tick(now);
    }, every);
  }

  /** The core this listener feeds. */
  get core(): WsTracker<WebSocketConnection> {
    return this.#core;
  }

  /** Number of open WebSocket connections. */
  get connections(): number {
    return this.#open.size;
  }

  /**
   * An upgrade handler for a {@link Router}: switches requests for one of `paths` (every path
   * when omitted) to a WebSocket. WebTorrent clients use the tracker URL as given, commonly
   * `ws://host:port` (path `/`) or `ws://host:port/announce`.
   */
  upgradeHandler(paths?: readonly string[]): UpgradeHandler {
    const only = paths === undefined ? undefined : new Set(paths);
    return (req) => only === undefined || only.has(req.path) ? this.#upgrade(req) : undefined;
  }

  /** Closes every connection (going away) and stops the timer. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#ticker);
    const all = [...this.#open];
    for (const ws of all) ws.terminate();
    await Promise.all(all.map((ws) => ws.done()));
  }

  #upgrade(req: HttpRequest): HttpResponse {
    let accept: string;
    try {
      if (req.headers.get(":version") === "1.0") {
        throw new HandshakeError("a WebSocket handshake needs HTTP/1.1", 400);
      }
      accept = checkHandshake(req.method, req.headers);
    } catch (e) {
      if (!(e instanceof HandshakeError)) throw e;
      const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
      if (e.status === 426) headers["sec-websocket-version"] = "13";
      return { status: e.status, headers, body: e.message + "\n" };
    }
    const ip = clientIp(req, this.#options);
    if (this.#options.admission?.isDenied(ip)) {
      this.counters.admissionRefused++;
      return {
        status: 403,
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: DENIED_REASON + "\n",
      };
    }
    const refusal = this.#refusal(ip);
    if (refusal !== undefined) {
      this.counters.refused++;
      return {
        status: 503,
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: refusal + "\n",
      };
    }
    return {
      status: 101,
      headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-accept": accept },
      takeover: (conn, buffered) => this.#adopt(conn, buffered, ip),
    };
  }

  #refusal(ip: string): string | undefined {
    if (this.#closing) return "the tracker is stopping";
    if (this.#open.size >= this.#options.maxConnections) return "too many WebSocket connections";
    if ((this.#perIp.get(ip) ?? 0) >= this.#options.maxConnectionsPerIp) {
      return "too many WebSocket connections from your address";
    }
    return undefined;
  }

  #adopt(conn: Deno.Conn, buffered: Uint8Array, ip: string): void {
    // The bounds are checked again: other handshakes may have finished while the 101 was sent.
    if (this.#refusal(ip) !== undefined) {
      this.counters.refused++;
      try {
        conn.close();
      } catch { /* already closed */ }
      return;
    }
    this.counters.accepted++;
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    const ws = new WebSocketConnection(conn, buffered, ip, this.#options.limits, {
      onText: (ws, text) => this.#onMessage(ws, text),
      onClose: (ws) => this.#onClose(ws),
    });
    if (!ws.closed) this.#open.add(ws);
  }

  #onClose(ws: WebSocketConnection): void {
    this.#open.delete(ws);
    this.#core.disconnect(ws);
    const n = (this.#perIp.get(ws.remoteIp) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ws.remoteIp);
    else this.#perIp.set(ws.remoteIp, n);
  }

  #onMessage(ws: WebSocketConnection, text: string): void {
    let req;
    try {
      req = parseWebTorrentMessage(text, this.#options);
    } catch (e) {
      if (!(e instanceof WebTorrentMessageError)) throw e;
      this.#refuse(ws, e);
      return;
    }
    // Answers are the second half of a WebRTC handshake another peer started: never limited.
    if (req.action === "scrape" || req.answer === undefined) {
      const refusal = this.#options.admission?.check(ws.remoteIp, req.action);
      if (refusal !== undefined) {
        this.counters.admissionRefused++;
        ws.send(
          encodeFailure(
            refusal.reason,
            req.action,
            req.action === "announce" ? req.infoHash : undefined,
          ),
        );
        return;
      }
    }
    if (req.action === "scrape") {
      ws.send(this.#scrape(req));
      return;
    }
    const core = this.#core;
    const outcome = core.announce(ws, req);
    if (outcome.failure !== undefined) {
      ws.send(encodeFailure(outcome.failure, "announce", req.infoHash));
      return;
    }
    if (outcome.counts !== undefined) {
      ws.send(encodeAnnounceReply(req.infoHash, outcome.counts, core.options.interval));
    }
    for (let i = 0; i < outcome.offerTo.length; i++) {
      outcome.offerTo[i].send(encodeRelayedOffer(req.infoHash, req.peerId, req.offers[i]));
    }
    if (outcome.answerTo !== undefined) {
      outcome.answerTo.send(encodeRelayedAnswer(req.infoHash, req.peerId, req.answer!));
    }
  }

  #refuse(ws: WebSocketConnection, e: WebTorrentMessageError): void {
    this.counters.badMessages++;
    ws.send(encodeFailure(e.message, e.action, e.infoHash));
  }

  #scrape(req: WebTorrentScrape): string {
    const entries: [string, SwarmCounts][] = [];
    if (req.infoHashes.length === 0) {
      if (!this.#options.allowFullScrape) {
        this.counters.badMessages++;
        return encodeFailure("full scrape is disabled: give at least one info_hash", "scrape");
      }
      this.#core.counters.scrapes++;
      for (const [hash, swarm] of this.#core.swarms()) entries.push([hash, swarm]);
    } else {
      const counts = this.#core.scrape(req.infoHashes);
      for (let i = 0; i < counts.length; i++) {
        const c = counts[i];
        if (c !== undefined) entries.push([req.infoHashes[i], c]);
      }
    }
    return encodeScrapeReply(entries, this.#options.scrapeInterval);
  }
}
