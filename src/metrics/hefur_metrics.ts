/**
 * Hefur's metrics: what `/metrics` shows, in the Prometheus text format.
 *
 * Nothing here runs per announce. Counts are kept by their owners as plain fields (the core's
 * {@link TrackerCounters}, each listener's counters) and copied in when `/metrics` is read;
 * gauges (torrents, peers, memory) are computed then too. The one measurement taken per request
 * is the HTTP handling time, two `performance.now()` calls around the handler; UDP packets are
 * handled in microseconds without waiting on anything, so their latency is left to the
 * benchmarks.
 *
 * @module
 */
import type { HttpHandler, HttpRequest, HttpResponse, HttpServer } from "../net/http_server.ts";
import type { SchemeCounters } from "../net/http.ts";
import type { UdpServer } from "../net/udp.ts";
import type { WebTorrentServer } from "../net/webtorrent.ts";
import type { StateStore } from "../state/state_store.ts";
import type { Tracker, TrackerCounters } from "../tracker/tracker.ts";
import type { Replication } from "../tracker/replication.ts";
import type { WsTracker } from "../tracker/ws_tracker.ts";
import type { ScanReport, Whitelist } from "../whitelist/whitelist.ts";
import { VERSION } from "../version.ts";
import { type Histogram, Registry } from "./registry.ts";
import type { Admission } from "../admission/admission.ts";
import type { CertificateReloader } from "../net/cert_reload.ts";
import type { RenderCache } from "../pages/render_cache.ts";
import { binaryToHex } from "../protocol/binary.ts";
import { acceptErrors } from "../net/accept_backoff.ts";
import { TimeSlices } from "../process/time_slices.ts";

/** The parts of a running Hefur that metrics read; absent parts are simply not reported. */
export interface MetricSources {
  tracker: Tracker;
  /** What the HTTP(S) announce and scrape routes answered. */
  routes: SchemeCounters;
  http?: HttpServer;
  https?: HttpServer;
  udp?: UdpServer;
  state?: StateStore;
  whitelist?: Whitelist;
  /** The WebSocket (WebTorrent) swarms. */
  wsTracker?: WsTracker<unknown>;
  /** The WebSocket listener side (connections, refusals). */
  webtorrent?: WebTorrentServer;
  /** Deny list and rate limits. */
  admission?: Admission;
  /** The HTTPS certificate's reloader. */
  certs?: CertificateReloader;
  /** Replication through Redis (`--store redis://…`): its connection, lag and traffic. */
  replication?: Replication;
  /** The cache of rendered pages and its render budget. */
  pageCache?: RenderCache;
}

/** Bucket bounds (seconds) of HTTP request handling times. */
export const REQUEST_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1];
/** Bucket bounds (seconds) of whitelist scans. */
export const SCAN_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/** The content type of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Hefur's registry, filled from its sources at each scrape. */
export class HefurMetrics {
  readonly registry: Registry = new Registry();
  /** Time spent handling HTTP requests, by protocol (`http`, `https`). */
  readonly requestDuration: Histogram;
  /** Durations of full walks of the torrent directory. */
  readonly scanDuration: Histogram;
  readonly #sources: () => MetricSources;
  readonly #startedAt = Date.now();

  /** `sources` is read at each scrape, so listeners may be created after the metrics. */
  constructor(sources: () => MetricSources) {
    this.#sources = sources;
    const r = this.registry;
    this.requestDuration = r.histogram(
      "hefur_request_duration_seconds",
      "Time spent handling an HTTP request, by protocol.",
      REQUEST_BUCKETS,
      ["protocol"],
    );
    this.scanDuration = r.histogram(
      "hefur_whitelist_scan_duration_seconds",
      "Duration of full walks of the torrent directory.",
      SCAN_BUCKETS,
    );
    const info = r.gauge("hefur_build_info", "Hefur's version, as a label.", ["version"]);
    const started = r.gauge("process_start_time_seconds", "When Hefur started, since the epoch.");
    const uptime = r.gauge("hefur_uptime_seconds", "Seconds since Hefur started.");
    const memory = r.gauge("hefur_memory_bytes", "Memory of the process by kind.", ["kind"]);
    const rss = r.gauge("process_resident_memory_bytes", "Resident memory of the process.");
    const torrents = r.gauge("hefur_torrents", "Torrents tracked.");
    const peers = r.gauge(
      "hefur_peers",
      "UDP and HTTP peers in every swarm, by state (browsers: hefur_ws_peers_by_state).",
      ["state"],
    );
    const families = r.gauge("hefur_peers_by_family", "Peers by address family.", ["family"]);
    const completed = r.gauge(
      "hefur_completed",
      "Completed downloads recorded for the tracked torrents by UDP and HTTP peers (kept across restarts with --state-file).",
    );
    const pending = r.gauge(
      "hefur_pending_history",
      "Torrents with saved history waiting to be tracked again (whitelist mode).",
    );
    const announces = r.counter(
      "hefur_announces_total",
      "Announces answered, by protocol and result.",
      ["protocol", "result"],
    );
    const scrapes = r.counter(
      "hefur_scrapes_total",
      "Scrapes answered, by protocol and result.",
      ["protocol", "result"],
    );
    const errors = r.counter("hefur_errors_total", "Requests refused or failed, by kind.", [
      "kind",
    ]);
    const connections = r.gauge(
      "hefur_connections",
      "Open connections, by protocol (http, https, ws).",
      ["protocol"],
    );
    const packets = r.counter("hefur_udp_packets_total", "UDP datagrams, by direction.", [
      "direction",
    ]);
    const saves = r.counter("hefur_state_saves_total", "State file saves, by result.", ["result"]);
    const lastSave = r.gauge(
      "hefur_state_last_save_timestamp_seconds",
      "When the state file was last saved, since the epoch (0: not yet).",
    );
    const saveSeconds = r.gauge(
      "hefur_state_last_save_duration_seconds",
      "How long the last state save took.",
    );
    const saveBytes = r.gauge("hefur_state_last_save_bytes", "Size of the last state file.");
    const wsPeers = r.gauge("hefur_ws_peers", "WebSocket (WebTorrent) peers in every swarm.");
    const wsSwarms = r.gauge("hefur_ws_swarms", "WebSocket (WebTorrent) swarms.");
    const wsByState = r.gauge(
      "hefur_ws_peers_by_state",
      "WebSocket (WebTorrent) peers by state; pages add them to hefur_peers.",
      ["state"],
    );
    const wsCompleted = r.gauge(
      "hefur_ws_completed",
      "Completed downloads recorded for the WebSocket (WebTorrent) swarms; pages add them to hefur_completed.",
    );
    const wsRelayed = r.counter(
      "hefur_ws_relayed_total",
      "WebRTC offers and answers relayed between WebSocket peers.",
      ["kind"],
    );
    const scanFiles = r.gauge(
      "hefur_whitelist_files",
      "`.torrent` files under the torrent directory at the last walk.",
    );
    const refused = r.counter(
      "hefur_admission_refused_total",
      "Requests refused before the tracker, by reason (denied, announce_rate, scrape_rate, page_rate).",
      ["reason"],
    );
    const early = r.counter(
      "hefur_early_announces_total",
      "Announces sooner than min interval after the same peer's last (answered without peers, or refused).",
    );
    const rateBuckets = r.gauge(
      "hefur_rate_limit_buckets",
      "Rate buckets held: one per address (IPv6: per /64) and kind of request, bounded by --rate-limit-addresses per kind.",
    );
    const rateEvicted = r.counter(
      "hefur_rate_limit_evictions_total",
      "Rate buckets dropped while in use because more addresses came than --rate-limit-addresses.",
    );
    const denyRanges = r.gauge("hefur_deny_networks", "Address ranges denied (after merging).");
    const denyReloads = r.counter(
      "hefur_deny_file_reloads_total",
      "Loads of --deny-file, by result (ok, failure: the previous list stayed).",
      ["result"],
    );
    const officialTorrents = r.gauge(
      "hefur_official_seed_torrents",
      "Torrents by whether a seeder in the --official-seed networks is online (online, down).",
      ["state"],
    );
    const officialSeeds = r.gauge(
      "hefur_torrent_official_seeds",
      "Seeders online in the --official-seed networks, per torrent (whitelist mode only: in open mode the torrents are not the publisher's).",
      ["info_hash"],
    );
    const replConnected = r.gauge(
      "hefur_replication_connected",
      "1 while replication (--store redis://…) is connected to Redis, 0 while Redis is away.",
    );
    const replLag = r.gauge(
      "hefur_replication_lag_seconds",
      "How far behind the other instances this one is: the age of the last batch read when it " +
        "was applied, or while Redis is away the time since it was last reached.",
    );
    const replBatches = r.counter(
      "hefur_replication_batches_total",
      "Batches of swarm changes sent to Redis (out), applied from other instances (in), and " +
        "sent twice but counted once (duplicate).",
      ["direction"],
    );
    const replChanges = r.counter(
      "hefur_replication_changes_total",
      "Peer changes sent (out) and applied from other instances (in).",
      ["direction"],
    );
    const replDropped = r.counter(
      "hefur_replication_dropped_changes_total",
      "Peer changes dropped because the queue for Redis was full (sent again as a whole later).",
    );
    const replQueued = r.gauge(
      "hefur_replication_queued_bytes",
      "Bytes of change batches waiting for Redis.",
    );
    const certReloads = r.counter(
      "hefur_tls_certificate_reloads_total",
      "Renewed HTTPS certificates put in service (ok), or refused while the old one stayed (failure).",
      ["result"],
    );
    const certExpiry = r.gauge(
      "hefur_tls_certificate_expiry_timestamp_seconds",
      "When the HTTPS certificate in service expires, since the epoch.",
    );
    const acceptFailures = r.counter(
      "hefur_accept_errors_total",
      "Connections not accepted on a TCP or control listener, by reason (fd_exhausted: out of file descriptors).",
      ["reason"],
    );
    const pageRenders = r.counter(
      "hefur_page_renders_total",
      "Pages, API documents, feeds, badges and /metrics rendered (not served from the page cache).",
    );
    const pageHits = r.counter(
      "hefur_page_cache_hits_total",
      "Page requests answered from the page cache (fresh, or stale while the render budget is spent).",
    );
    const pageBusy = r.counter(
      "hefur_page_busy_total",
      "Page requests answered 503 because the render budget was spent and nothing was cached.",
    );
    const pageCacheBytes = r.gauge("hefur_page_cache_bytes", "Bytes of rendered pages cached.");
    const scanTruncated = r.gauge(
      "hefur_whitelist_scan_truncated",
      "1 when the last walk stopped at --max-scan-inodes.",
    );

    // Walks every torrent: in time slices, so that announces are answered meanwhile.
    r.onCollect(async () => {
      const slices = new TimeSlices();
      const s = this.#sources();
      info.set(1, { version: VERSION });
      started.set(this.#startedAt / 1000);
      uptime.set(Math.floor((Date.now() - this.#startedAt) / 1000));
      const mem = Deno.memoryUsage();
      for (const kind of ["rss", "heapTotal", "heapUsed", "external"] as const) {
        memory.set(mem[kind], { kind });
      }
      rss.set(mem.rss);

      let seeders = 0, leechers = 0, v4 = 0, all = 0, done = 0, online = 0, down = 0;
      const official = s.tracker.hasOfficialNetworks;
      const perTorrent = official && !s.tracker.options.open;
      officialSeeds.reset(); // retired torrents must not linger
      if (s.replication !== undefined) {
        const st = s.replication.stats();
        replConnected.set(st.connected ? 1 : 0);
        replLag.set(st.lagSeconds);
        replBatches.set(st.batchesOut, { direction: "out" });
        replBatches.set(st.batchesIn, { direction: "in" });
        replBatches.set(st.duplicateBatches, { direction: "duplicate" });
        replChanges.set(st.changesOut, { direction: "out" });
        replChanges.set(st.changesIn, { direction: "in" });
        replDropped.set(st.droppedChanges);
        replQueued.set(st.queuedBytes);
      }
      for (const t of s.tracker.torrents()) {
        if (slices.due()) await slices.pause();
        if (official) {
          const n = s.tracker.officialSeeds(t)!;
          if (n > 0) online++;
          else down++;
          if (perTorrent) {
            officialSeeds.set(n, { info_hash: binaryToHex(t.info?.fullHash ?? t.infoHash) });
          }
        }
        const swarm = t.swarm;
        seeders += swarm.complete;
        leechers += swarm.incomplete;
        v4 += swarm.v4.size;
        all += swarm.size;
        done += swarm.downloaded;
      }
      torrents.set(s.tracker.size);
      if (official) {
        officialTorrents.set(online, { state: "online" });
        officialTorrents.set(down, { state: "down" });
      }
      early.set(s.tracker.counters.early);
      acceptFailures.set(acceptErrors.fdExhausted, { reason: "fd_exhausted" });
      if (s.certs !== undefined) {
        certReloads.set(s.certs.counters.reloads, { result: "ok" });
        certReloads.set(s.certs.counters.failures, { result: "failure" });
        if (s.certs.expiresAt !== undefined) certExpiry.set(s.certs.expiresAt / 1000);
      }
      if (s.admission !== undefined) {
        const a = s.admission.counters;
        refused.set(a.denied, { reason: "denied" });
        refused.set(a.announcesLimited, { reason: "announce_rate" });
        refused.set(a.scrapesLimited, { reason: "scrape_rate" });
        refused.set(a.pagesLimited, { reason: "page_rate" });
        rateBuckets.set(a.buckets);
        rateEvicted.set(a.bucketsEvicted);
        denyRanges.set(s.admission.deny.size);
        denyReloads.set(s.admission.deny.reloads, { result: "ok" });
        denyReloads.set(s.admission.deny.reloadFailures, { result: "failure" });
      }
      peers.set(seeders, { state: "seeder" });
      peers.set(leechers, { state: "leecher" });
      families.set(v4, { family: "ipv4" });
      families.set(all - v4, { family: "ipv6" });
      completed.set(done);
      let waiting = 0;
      for (const _ of s.tracker.pending()) {
        waiting++;
        if (slices.due()) await slices.pause();
      }
      pending.set(waiting);

      for (const protocol of ["http", "https"] as const) {
        const c = s.routes[protocol];
        announces.set(c.announces - c.announceFailures, { protocol, result: "ok" });
        announces.set(c.announceFailures, { protocol, result: "failure" });
        scrapes.set(c.scrapes - c.scrapeFailures, { protocol, result: "ok" });
        scrapes.set(c.scrapeFailures, { protocol, result: "failure" });
        errors.set(c.badQueries, { kind: `${protocol}_bad_query` });
      }
      for (const [protocol, server] of [["http", s.http], ["https", s.https]] as const) {
        if (server === undefined) continue;
        connections.set(server.connections, { protocol });
        errors.set(server.timedOut, { kind: `${protocol}_timeout` });
        errors.set(server.refused, { kind: `${protocol}_refused` });
      }
      if (s.udp !== undefined) {
        const u = s.udp.counters;
        announces.set(u.announces - u.announceFailures, { protocol: "udp", result: "ok" });
        announces.set(u.announceFailures, { protocol: "udp", result: "failure" });
        scrapes.set(u.scrapes, { protocol: "udp", result: "ok" });
        packets.set(u.packets, { direction: "in" });
        packets.set(u.replies, { direction: "out" });
        errors.set(u.malformed, { kind: "udp_malformed" });
        errors.set(u.badConnectionIds, { kind: "udp_bad_connection_id" });
        errors.set(u.errorReplies, { kind: "udp_error_reply" });
        errors.set(u.exceptions, { kind: "udp_exception" });
        errors.set(u.socketErrors, { kind: "udp_socket_error" });
      }
      const core: TrackerCounters = s.tracker.counters;
      errors.set(core.notFound, { kind: "torrent_not_found" });
      errors.set(core.full, { kind: "tracker_full" });
      if (s.wsTracker !== undefined) {
        const w = s.wsTracker.counters;
        announces.set(w.announces - w.failures, { protocol: "ws", result: "ok" });
        announces.set(w.failures, { protocol: "ws", result: "failure" });
        scrapes.set(w.scrapes, { protocol: "ws", result: "ok" });
        wsRelayed.set(w.offers, { kind: "offer" });
        wsRelayed.set(w.answers, { kind: "answer" });
        wsPeers.set(s.wsTracker.peerCount);
        wsSwarms.set(s.wsTracker.size);
        let wsSeeders = 0;
        let wsLeechers = 0;
        let wsDone = 0;
        for (const [, swarm] of s.wsTracker.swarms()) {
          if (slices.due()) await slices.pause();
          wsSeeders += swarm.complete;
          wsLeechers += swarm.incomplete;
          wsDone += swarm.downloaded;
        }
        wsByState.set(wsSeeders, { state: "seeder" });
        wsByState.set(wsLeechers, { state: "leecher" });
        wsCompleted.set(wsDone);
      }
      if (s.webtorrent !== undefined) {
        const w = s.webtorrent.counters;
        connections.set(s.webtorrent.connections, { protocol: "ws" });
        errors.set(w.refused, { kind: "ws_refused" });
        errors.set(w.badMessages, { kind: "ws_bad_message" });
      }
      if (s.pageCache !== undefined) {
        const p = s.pageCache.counters;
        pageRenders.set(p.renders);
        pageHits.set(p.hits);
        pageBusy.set(p.busy);
        pageCacheBytes.set(s.pageCache.bytes);
      }
      const scan = s.whitelist?.lastScan;
      if (scan !== undefined) {
        scanFiles.set(scan.files);
        scanTruncated.set(scan.truncated ? 1 : 0);
      }
      if (s.state !== undefined) {
        const st = s.state.counters;
        saves.set(st.saves, { result: "ok" });
        saves.set(st.saveFailures, { result: "failure" });
        errors.set(st.saveFailures, { kind: "state_save_failed" });
        lastSave.set(st.lastSave / 1000);
        saveSeconds.set(st.lastDuration);
        saveBytes.set(st.lastBytes);
      }
    });
  }

  /** Records a walk of the torrent directory (the whitelist's `onScan`). */
  readonly observeScan = (report: ScanReport): void => {
    this.scanDuration.observe(report.durationMs / 1000);
  };

  /** The `/metrics` route, rendered in time slices. */
  readonly handler: HttpHandler = async () => ({
    status: 200,
    headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
    body: await this.registry.renderInSlices(),
    keepAlive: true,
  });

  /** Wraps an HTTP handler so that its handling time lands in {@link requestDuration}. */
  timed(handler: HttpHandler): HttpHandler {
    const http = this.requestDuration.child({ protocol: "http" });
    const https = this.requestDuration.child({ protocol: "https" });
    return (req: HttpRequest) => {
      const t0 = performance.now();
      const observe = req.secure ? https : http;
      const res = handler(req);
      if (res instanceof Promise) {
        return res.then((r: HttpResponse) => {
          observe((performance.now() - t0) / 1000);
          return r;
        });
      }
      observe((performance.now() - t0) / 1000);
      return res;
    };
  }
}
