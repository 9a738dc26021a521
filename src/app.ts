/**
 * Hefur assembled: one tracker core, and the listeners and services around it, started from a
 * {@link ServeConfig}. Reads like a table of contents of the server; each piece lives in its own
 * module.
 *
 * @module
 */
import type { ServeConfig } from "./cli/args.ts";
import { type EarlyAnnouncePolicy, Tracker } from "./tracker/tracker.ts";
import { IpSet } from "./protocol/ip_set.ts";
import { Admission } from "./admission/admission.ts";
import { DenyList } from "./admission/deny_list.ts";
import { DEFAULT_HTTP_LIMITS, HttpServer } from "./net/http_server.ts";
import { addTrackerRoutes, newSchemeCounters, Router } from "./net/http.ts";
import { Cidrs } from "./protocol/ip.ts";
import { UdpServer } from "./net/udp.ts";
import { ConnectionIds } from "./net/connection_id.ts";
import { Whitelist } from "./whitelist/whitelist.ts";
import { listenTlsReusable, readKeyPair } from "./net/tls.ts";
import { CertificateReloader, DEFAULT_CERT_RELOAD } from "./net/cert_reload.ts";
import { Assets } from "./pages/assets.ts";
import { addPageRoutes } from "./pages/routes.ts";
import { DEFAULT_RENDER_CACHE, RenderCache } from "./pages/render_cache.ts";
import { limitPages } from "./admission/page_limit.ts";
import { WsTracker } from "./tracker/ws_tracker.ts";
import { WebTorrentServer } from "./net/webtorrent.ts";
import type { WebSocketConnection } from "./net/websocket.ts";
import { addApiRoutes } from "./api/json_api.ts";
import { HefurMetrics } from "./metrics/hefur_metrics.ts";
import { parseHostPort } from "./net/host_port.ts";
import { StateStore } from "./state/state_store.ts";
import type { TrackerStore } from "./tracker/store.ts";
import { parseStoreSpec } from "./tracker/store_url.ts";
import type { RedisStore } from "./tracker/redis_store.ts";

/** How often the deny file is checked for changes (ms). */
export const DENY_POLL_MS = 5000;

/** A running Hefur. */
export interface Hefur {
  readonly config: ServeConfig;
  /** The local tracker: the torrents this instance knows of (and their swarms with `memory`). */
  readonly tracker: Tracker;
  /** Where the swarms are: `tracker` itself, or the Redis store (`--store redis://…`). */
  readonly store: TrackerStore;
  /** The Redis store, when the swarms are shared. */
  readonly redis?: RedisStore;
  readonly router: Router;
  /** The HTTP listener, when `--http-port` is not 0. */
  readonly http?: HttpServer;
  /** The HTTPS listener, when `--http-cert` and `--http-key` are given and `--https-port` is not 0. */
  readonly https?: HttpServer;
  /** The UDP tracker, when `--udp-port` is not 0. */
  readonly udp?: UdpServer;
  /** The torrent directory's whitelist, when `--torrent-dir` is given. */
  readonly whitelist?: Whitelist;
  /** The WebSocket (WebTorrent) swarms, kept and counted apart from the UDP/HTTP ones. */
  readonly wsTracker: WsTracker<WebSocketConnection>;
  /** The WebSocket tracker on the HTTP listeners (and `ws`), unless `--disable-websocket`. */
  readonly webtorrent?: WebTorrentServer;
  /** The WebSocket-only listener, when `--ws-port` is not 0. */
  readonly ws?: HttpServer;
  /** Metrics, unless `--disable-metrics`. */
  readonly metrics?: HefurMetrics;
  /** The listener of `--metrics-bind`. */
  readonly metricsHttp?: HttpServer;
  /** The state file, when `--state-file` is given. */
  readonly state?: StateStore;
  /** Reloads the HTTPS certificate when its files change, when HTTPS is on. */
  readonly certs?: CertificateReloader;
  /** The deny list and rate limits every listener checks. */
  readonly admission: Admission;
  /** Rendered pages served again for `--page-cache` seconds, and the render budget. */
  readonly pageCache: RenderCache;
  /** Stops every listener and timer; resolves when all are closed. */
  close(): Promise<void>;
}

/** The address every listener binds to. */
export function bindAddress(config: ServeConfig): string {
  return config.bindAddr ?? (config.ipv6 ? "::" : "0.0.0.0");
}

/**
 * Starts the tracker and its listeners as configured. With `--torrent-dir`, resolves once the
 * first walk of the directory is done, so every torrent present at start-up is tracked before the
 * first announce is answered. With `--store redis://…`, connects first: a store that cannot be
 * reached stops start-up with a `StoreConnectError`.
 */
export async function startHefur(config: ServeConfig): Promise<Hefur> {
  // Files first: a broken www dir or key pair stops start-up before anything runs.
  const assets = new Assets(config.wwwDir);
  const useTls = config.httpCert !== "" && config.httpsPort !== 0;
  const keyPair = useTls ? readKeyPair(config.httpCert, config.httpKey) : undefined;

  // The core, the rate limits and the UDP connection ids read a clock on every request. Reading
  // the system clock costs about 0.1 µs each time; this copy, refreshed once a second by the
  // ticker below, costs nothing. The core counts time in whole seconds, the ids in minutes, and
  // the rate limits are set per minute.
  let clockMs = performance.now();
  const tracker = new Tracker({
    clock: () => clockMs,
    announceInterval: config.announceInterval * 60,
    minAnnounceInterval: Math.min(config.minAnnounceInterval, config.announceInterval * 60),
    peerTimeout: (config.announceInterval + 5) * 60,
    maxPeers: config.maxPeers,
    minNumwant: config.minNumwant,
    maxNumwant: config.maxNumwant,
    open: config.torrentDir === "",
    maxTorrents: config.maxTorrents,
    earlyAnnounces: config.earlyAnnounces as EarlyAnnouncePolicy,
    official: new IpSet(config.officialSeed),
  });
  // The deny file is read now: a bad one stops start-up before any listener opens.
  const admission = new Admission({
    deny: new DenyList({ networks: config.denyFrom, file: config.denyFile, pollMs: DENY_POLL_MS }),
    announce: {
      perMinute: config.announceRate,
      burst: config.announceBurst,
      maxAddresses: config.rateLimitAddresses,
    },
    scrape: {
      perMinute: config.scrapeRate,
      burst: config.scrapeBurst,
      maxAddresses: config.rateLimitAddresses,
    },
    page: {
      perMinute: config.pageRate,
      burst: config.pageBurst,
      maxAddresses: config.rateLimitAddresses,
    },
  }, () => clockMs);
  const pageCache = new RenderCache({
    ...DEFAULT_RENDER_CACHE,
    ttlMs: config.pageCache * 1000,
    budgetMsPerSecond: config.pageRenderBudget,
  });
  await admission.deny.start();
  const spec = parseStoreSpec(config.store);
  let redis: RedisStore | undefined;
  if (spec.kind === "redis") {
    try {
      // Loaded only when asked for: the Redis client and the Node compatibility layer under it
      // add about 7 MiB to the heap, which every full garbage collection would then walk.
      const { RedisStore } = await import("./tracker/redis_store.ts");
      redis = await RedisStore.connect(spec.url, spec.name, tracker);
    } catch (e) {
      await admission.close();
      throw e;
    }
  }
  const store: TrackerStore = redis ?? tracker;

  // WebTorrent clients are told to come back sooner than BitTorrent ones: offers go stale.
  const wsTracker = new WsTracker<WebSocketConnection>(tracker, {
    interval: Math.max(tracker.options.minAnnounceInterval, config.announceInterval * 12),
    peerTimeout: tracker.options.peerTimeout,
    maxPeers: config.maxPeers,
  });

  // History comes back before the whitelist or any listener touches the tracker; in whitelist mode
  // it waits in the tracker until the whitelist adds each torrent. The WebSocket swarms' completed
  // counts come back too (made before the state, for that).
  const state = config.stateFile === "" ? undefined : new StateStore(tracker, {
    path: config.stateFile,
    interval: config.stateInterval,
    peers: config.statePeers,
  }, wsTracker);
  state?.load();

  // Metrics read their sources when /metrics is served, so they exist before the listeners do.
  const routes = newSchemeCounters();
  const metrics = config.disableMetrics ? undefined : new HefurMetrics(() => ({
    tracker,
    routes,
    http,
    https,
    udp,
    state,
    whitelist,
    wsTracker,
    webtorrent,
    admission,
    certs,
    redis,
    pageCache,
  }));

  let whitelist: Whitelist | undefined;
  if (config.torrentDir !== "") {
    whitelist = new Whitelist(tracker, {
      root: config.torrentDir,
      scanIntervalMs: config.scanInterval * 1000,
      maxScanDepth: config.maxScanDepth,
      maxScanInodes: config.maxScanInodes,
      maxTorrentSize: config.maxTorrentSize * 1024 * 1024,
      maxTorrentName: config.maxTorrentName,
      onScan: metrics?.observeScan,
    });
    try {
      await whitelist.start();
    } catch (e) {
      await admission.close();
      await redis?.close();
      throw e;
    }
  }
  // Once a second: the core's clock; once a minute: forget what timed out.
  let ticks = 0;
  const sweeper = setInterval(() => {
    clockMs = performance.now();
    if (++ticks % 60 !== 0) return;
    tracker.sweep();
    wsTracker.sweep();
    admission.sweep();
    redis?.sweep();
  }, 1000);

  const clientAddress = {
    reverseProxyHeader: config.reverseProxyHeader.toLowerCase(),
    reverseProxyFrom: new Cidrs(config.reverseProxyFrom),
  };
  const router = addTrackerRoutes(new Router(), store, {
    counters: routes,
    admission,
    allowProxy: config.allowProxy,
    maxScrapeTorrents: config.maxScrapeTorrents,
    allowFullScrape: config.allowFullScrape,
    scrapeInterval: config.scrapeInterval * 60,
    ...clientAddress,
  });
  let udp: UdpServer | undefined;
  addPageRoutes(router, tracker, {
    assets,
    statPage: !config.disableStatPage,
    peersPage: !config.disablePeersPage,
    filePage: !config.disableFilePage,
    maxTorrentFileBytes: config.maxTorrentSize * 1024 * 1024,
    udpPort: () => udp?.addr.port ?? 0,
    feed: !config.disableFeed,
    feedEntries: config.feedEntries,
    feedTitle: config.feedTitle,
    badges: !config.disableBadges,
  }, store);
  addApiRoutes(router, tracker, {
    stats: !config.disableStatPage,
    peers: !config.disablePeersPage,
    admission,
    store,
  });
  if (metrics !== undefined && config.metricsBind === undefined) {
    router.on("/metrics", metrics.handler);
  }
  // Page requests first meet their address's rate limit, then the cache of rendered pages. Timed
  // inside the limit: the delay of a refusal is not handling time.
  const served = pageCache.wrap(router.handle);
  const handle = limitPages(metrics?.timed(served) ?? served, admission, clientAddress);

  const limits = {
    ...DEFAULT_HTTP_LIMITS,
    timeoutMs: config.httpTimeout,
    maxConnections: config.maxHttpConnections,
  };
  let http: HttpServer | undefined;
  let https: HttpServer | undefined;
  let metricsHttp: HttpServer | undefined;
  let certs: CertificateReloader | undefined;
  try {
    if (
      metrics !== undefined && config.metricsBind !== undefined && config.metricsBind !== "control"
    ) {
      const only = new Router().on("/metrics", metrics.handler);
      metricsHttp = new HttpServer(
        Deno.listen(parseHostPort(config.metricsBind)!),
        pageCache.wrap(only.handle),
        limits,
      );
    }
    if (config.httpPort !== 0) {
      const listener = Deno.listen({ hostname: bindAddress(config), port: config.httpPort });
      http = new HttpServer(listener, handle, limits);
    }
    if (keyPair !== undefined) {
      const listener = listenTlsReusable(bindAddress(config), config.httpsPort, keyPair, {
        cert: config.httpCert,
        key: config.httpKey,
      });
      https = new HttpServer(listener, handle, limits, true);
      certs = new CertificateReloader(https, keyPair, {
        certPath: config.httpCert,
        keyPath: config.httpKey,
        hostname: bindAddress(config),
        ...DEFAULT_CERT_RELOAD,
      });
      certs.start();
    }
    if (config.udpPort !== 0) {
      udp = UdpServer.listen(bindAddress(config), config.udpPort, store, {
        allowProxy: config.allowProxy,
        maxScrapeTorrents: config.maxScrapeTorrents,
        maxNumwant: config.maxNumwant,
        admission,
        connectionIds: new ConnectionIds(undefined, () => clockMs),
      });
    }
  } catch (e) {
    // One listener failed: close what is already open, so nothing is left behind.
    clearInterval(sweeper);
    await Promise.all([
      http?.close(),
      https?.close(),
      certs?.close(),
      metricsHttp?.close(),
      whitelist?.close(),
      admission.close(),
    ]);
    await redis?.close();
    throw e;
  }

  // WebSocket upgrades on the HTTP listeners' router (so HTTPS gets wss:// too), and on --ws-port.
  let webtorrent: WebTorrentServer | undefined;
  let ws: HttpServer | undefined;
  if (!config.disableWebsocket) {
    webtorrent = new WebTorrentServer(wsTracker, {
      ...clientAddress,
      maxConnections: config.maxWsConnections,
      maxConnectionsPerIp: config.maxWsConnectionsPerIp,
      limits: {
        maxMessageBytes: config.maxWsMessageSize * 1024,
        idleTimeoutMs: config.wsIdleTimeout * 1000,
        maxQueuedBytes: Math.max(1024 * 1024, config.maxWsMessageSize * 1024 * 4),
      },
      maxOffers: config.maxWsOffers,
      maxScrapeTorrents: config.maxScrapeTorrents,
      allowFullScrape: config.allowFullScrape,
      scrapeInterval: config.scrapeInterval * 60,
      admission,
    });
    router.upgrade(webtorrent.upgradeHandler(["/", "/announce"]));
    if (config.wsPort !== 0) {
      try {
        const only = new Router().upgrade(webtorrent.upgradeHandler());
        const listener = Deno.listen({ hostname: bindAddress(config), port: config.wsPort });
        ws = new HttpServer(listener, only.handle, limits);
      } catch (e) {
        clearInterval(sweeper);
        await Promise.all([
          http?.close(),
          https?.close(),
          udp?.close(),
          metricsHttp?.close(),
          webtorrent.close(),
          whitelist?.close(),
          admission.close(),
          certs?.close(),
        ]);
        await redis?.close();
        throw e;
      }
    }
  }

  state?.start();

  return {
    config,
    tracker,
    store,
    redis,
    router,
    http,
    https,
    udp,
    whitelist,
    wsTracker,
    webtorrent,
    ws,
    metrics,
    metricsHttp,
    state,
    admission,
    pageCache,
    certs,
    async close() {
      clearInterval(sweeper);
      await Promise.all([
        http?.close(),
        https?.close(),
        ws?.close(),
        udp?.close(),
        metricsHttp?.close(),
        whitelist?.close(),
        admission.close(),
        certs?.close(),
      ]);
      await webtorrent?.close();
      // Last, once nothing can change the tracker any more; listeners waiting for the shared store
      // got their answers (or failures) by now.
      await state?.close();
      await redis?.close();
    },
  };
}
