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
import { loggedSink } from "./whitelist/logged_sink.ts";
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
import { parseStoreSpec } from "./tracker/store_url.ts";
import type { Replication } from "./tracker/replication.ts";
import { connectionLimitsWithin } from "./process/fd_limit.ts";
import { bindOrExplain } from "./net/bind_error.ts";

/** How often the deny file is checked for changes (ms). */
export const DENY_POLL_MS = 5000;

/** A running Hefur. */
export interface Hefur {
  readonly config: ServeConfig;
  /** The local tracker: the torrents this instance knows of (and their swarms with `memory`). */
  readonly tracker: Tracker;
  /** Replication of the swarms through Redis, with `--store redis://…`. */
  readonly replication?: Replication;
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
  /**
   * Stops every listener and timer, and saves the state file unless `saveState` is false;
   * resolves when all are closed.
   */
  close(saveState?: boolean): Promise<void>;
}

/** The address every listener binds to. */
export function bindAddress(config: ServeConfig): string {
  return config.bindAddr ?? (config.ipv6 ? "::" : "0.0.0.0");
}

/**
 * Starts the tracker and its listeners as configured. With `--torrent-dir`, resolves once the
 * first walk of the directory is done, so every torrent present at start-up is tracked before the
 * first announce is answered. With `--store redis://…`, joins the other instances before any
 * listener opens (within a bound; an unreachable Redis is not fatal, refused credentials are: a
 * `StoreConnectError`).
 */
export async function startHefur(config: ServeConfig): Promise<Hefur> {
  // Connections must not take every file descriptor: the limits are fitted to the process's. This
  // comes first, while nothing else is opening descriptors, since finding the limit inside the
  // sandbox takes every free one for a moment.
  const separateMetrics = !config.disableMetrics && config.metricsBind !== undefined &&
    config.metricsBind !== "control";
  const useTls = config.httpCert !== "" && config.httpsPort !== 0;
  const fitted = connectionLimitsWithin(
    [config.httpPort !== 0, useTls, separateMetrics, config.wsPort !== 0].filter(Boolean).length,
    !config.disableWebsocket,
    { maxHttpConnections: config.maxHttpConnections, maxWsConnections: config.maxWsConnections },
  );

  // Files first: a broken www dir or key pair stops start-up before anything runs.
  const assets = new Assets(config.wwwDir);
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
  let replication: Replication | undefined;

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
    replication,
    pageCache,
  }));

  let whitelist: Whitelist | undefined;
  if (config.torrentDir !== "") {
    const sink = loggedSink(tracker);
    sink.quiet = true;
    whitelist = new Whitelist(sink, {
      root: config.torrentDir,
      scanIntervalMs: config.scanInterval * 1000,
      maxScanDepth: config.maxScanDepth,
      maxScanInodes: config.maxScanInodes,
      maxTorrentSize: config.maxTorrentSize * 1024 * 1024,
      followExternalLinks: config.followExternalLinks,
      onScan: metrics?.observeScan,
    });
    try {
      await whitelist.start();
      // The WebSocket completed counts restored above were waiting for the whitelist.
      wsTracker.sweep();
      sink.quiet = false;
    } catch (e) {
      await admission.close();
      throw e;
    }
  }
  // After the whitelist (remote changes of torrents it does not track are ignored) and before the
  // listeners (an instance answers once it has caught up with the others).
  if (spec.kind === "redis") {
    try {
      // Loaded only when asked for: the Redis client and the Node compatibility layer under it
      // add about 7 MiB to the heap, which every full garbage collection would then walk.
      const { Replication } = await import("./tracker/replication.ts");
      replication = await Replication.start(spec.url, spec.name, tracker);
    } catch (e) {
      await Promise.all([whitelist?.close(), admission.close()]);
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
  }, 1000);

  const clientAddress = {
    reverseProxyHeader: config.reverseProxyHeader.toLowerCase(),
    reverseProxyFrom: new Cidrs(config.reverseProxyFrom),
  };
  const router = addTrackerRoutes(new Router(), tracker, {
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
    maxTorrentName: config.maxTorrentName,
    browsers: wsTracker,
  });
  addApiRoutes(router, tracker, {
    stats: !config.disableStatPage,
    peers: !config.disablePeersPage,
    admission,
    browsers: wsTracker,
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
    maxConnections: fitted.maxHttpConnections,
  };
  // Every listener binds the same address; a TCP one that cannot names itself and its option.
  const host = bindAddress(config);
  const listenTcp = (protocol: string, option: string, port: number) =>
    bindOrExplain(protocol, option, host, port, () => Deno.listen({ hostname: host, port }));
  let http: HttpServer | undefined;
  let https: HttpServer | undefined;
  let metricsHttp: HttpServer | undefined;
  let certs: CertificateReloader | undefined;
  try {
    if (
      metrics !== undefined && config.metricsBind !== undefined && config.metricsBind !== "control"
    ) {
      const only = new Router().on("/metrics", metrics.handler);
      const at = parseHostPort(config.metricsBind)!;
      metricsHttp = new HttpServer(
        bindOrExplain("/metrics", "--metrics-bind", at.hostname, at.port, () => Deno.listen(at)),
        pageCache.wrap(only.handle),
        limits,
      );
    }
    if (config.httpPort !== 0) {
      http = new HttpServer(listenTcp("HTTP", "--http-port", config.httpPort), handle, limits);
    }
    if (keyPair !== undefined) {
      const listener = bindOrExplain(
        "HTTPS",
        "--https-port",
        host,
        config.httpsPort,
        () =>
          listenTlsReusable(host, config.httpsPort, keyPair, {
            cert: config.httpCert,
            key: config.httpKey,
          }),
      );
      https = new HttpServer(listener, handle, limits, true);
      certs = new CertificateReloader(https, keyPair, {
        certPath: config.httpCert,
        keyPath: config.httpKey,
        hostname: host,
        ...DEFAULT_CERT_RELOAD,
      });
      certs.start();
    }
    if (config.udpPort !== 0) {
      udp = bindOrExplain(
        "UDP",
        "--udp-port",
        host,
        config.udpPort,
        () =>
          UdpServer.listen(host, config.udpPort, tracker, {
            allowProxy: config.allowProxy,
            maxScrapeTorrents: config.maxScrapeTorrents,
            maxNumwant: config.maxNumwant,
            admission,
            connectionIds: new ConnectionIds(undefined, () => clockMs),
          }),
      );
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
    await replication?.close();
    throw e;
  }

  // WebSocket upgrades on the HTTP listeners' router (so HTTPS gets wss:// too), and on --ws-port.
  let webtorrent: WebTorrentServer | undefined;
  let ws: HttpServer | undefined;
  if (!config.disableWebsocket) {
    webtorrent = new WebTorrentServer(wsTracker, {
      ...clientAddress,
      maxConnections: fitted.maxWsConnections,
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
        ws = new HttpServer(
          listenTcp("WebSocket", "--ws-port", config.wsPort),
          only.handle,
          limits,
        );
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
        await replication?.close();
        throw e;
      }
    }
  }

  state?.start();

  return {
    config,
    tracker,
    replication,
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
    async close(saveState = true) {
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
      // Last, once nothing can change the tracker any more: the last changes go out.
      await state?.close(saveState);
      await replication?.close();
    },
  };
}
