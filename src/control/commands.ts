/**
 * What each control command does to a running Hefur. The server (./server.ts) handles the wire;
 * this module only maps a command and its arguments to an action and a result.
 *
 * @module
 */
import type { Hefur } from "../app.ts";
import type { Logging } from "../log/mod.ts";
import { VERSION } from "../version.ts";
import type { ControlHandler } from "./server.ts";
import { type Command, ControlError, type MetricsResult, type StatusResult } from "./protocol.ts";
import { parseHash, parseTorrent, releaseTorrent, retireTorrent } from "./torrents.ts";
import { mergeListing, pageOfListing, requestCounts } from "../tracker/listing.ts";

/** What the commands act on. */
export interface ControlContext {
  hefur: Hefur;
  logging?: Logging;
  /** Wall-clock start time (ms since the epoch). */
  startedAt: number;
  /** Starts a graceful stop (after the current answer is sent). */
  stop(reason: string): void;
}

const MiB = 1024 * 1024;

/** The handler of every command of protocol version 1 for `ctx`. */
export function controlHandler(ctx: ControlContext): ControlHandler {
  // Publishing and retiring touch the tracker and the directory: one at a time, so two requests
  // for the same torrent cannot both pass the duplicate check.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  };
  const commands: Record<Command, (args: Record<string, unknown>) => unknown> = {
    "status": () => status(ctx),
    "release-torrent": (args) => serial(() => release(ctx, args)),
    "retire-torrent": (args) => serial(() => retire(ctx, args)),
    "release-logs": () => {
      ctx.logging?.release();
      return { file: ctx.logging?.file?.path };
    },
    "metrics": async () => {
      const metrics = ctx.hefur.metrics;
      if (metrics === undefined) {
        throw new ControlError("unavailable", "metrics are turned off (--disable-metrics)");
      }
      return { text: await metrics.registry.renderInSlices() } satisfies MetricsResult;
    },
    "quit": () => {
      // Let the answer go out first; the server drains answers in flight before closing.
      setTimeout(() => ctx.stop("quit"), 0);
      return { stopping: true };
    },
  };
  return (cmd, args) => commands[cmd](args);
}

function status(ctx: ControlContext): StatusResult {
  const { tracker, http, https, ws, udp, whitelist, replication, wsTracker } = ctx.hefur;
  const listing = mergeListing(tracker.listing(), wsTracker, tracker.options.open);
  const totals = pageOfListing(listing, 0, 0).totals;
  const { seeders, leechers } = totals;
  const web = totals.webtorrent;
  const requests = requestCounts(tracker.counters, wsTracker.counters);
  const listeners: StatusResult["listeners"] = {};
  for (const [name, server] of [["http", http], ["https", https], ["ws", ws]] as const) {
    if (server === undefined) continue;
    listeners[name] = {
      port: server.addr.port,
      connections: server.connections,
      refused: server.refused,
      timedOut: server.timedOut,
    };
  }
  if (udp) listeners.udp = { port: udp.addr.port, ...udp.counters };
  return {
    version: VERSION,
    pid: Deno.pid,
    uptime: Math.floor((Date.now() - ctx.startedAt) / 1000),
    startedAt: new Date(ctx.startedAt).toISOString(),
    mode: whitelist === undefined ? "open" : "whitelist",
    torrentDir: whitelist?.root,
    whitelist: whitelist && { files: whitelist.fileCount, hashes: whitelist.hashCount },
    torrents: listing.size,
    ...(replication && { store: replication.status() }),
    peers: seeders + leechers,
    seeders,
    leechers,
    completed: totals?.completed ?? 0,
    webtorrent: {
      peers: web.seeders + web.leechers,
      seeders: web.seeders,
      leechers: web.leechers,
      completed: web.completed,
    },
    requests: { ...requests, refused: requests.failures },
    listeners,
    logFile: ctx.logging?.file?.path,
  };
}

function bytesArg(args: Record<string, unknown>): Uint8Array {
  if (typeof args.data !== "string") {
    throw new ControlError("bad_request", "args.data must be the .torrent in base64");
  }
  try {
    return Uint8Array.fromBase64(args.data);
  } catch {
    throw new ControlError("bad_request", "args.data is not valid base64");
  }
}

function release(ctx: ControlContext, args: Record<string, unknown>) {
  const { config, tracker, whitelist } = ctx.hefur;
  if (whitelist === undefined) {
    throw new ControlError(
      "unavailable",
      "this server has no --torrent-dir: it runs in open mode, tracks any torrent, and has no directory to publish into",
    );
  }
  return releaseTorrent({
    whitelist,
    tracker,
    maxTorrentSize: config.maxTorrentSize * MiB,
  }, bytesArg(args));
}

function retire(ctx: ControlContext, args: Record<string, unknown>) {
  const { config, tracker, whitelist } = ctx.hefur;
  if (typeof args.hash === "string") {
    return retireTorrent(tracker, whitelist, { hash: parseHash(args.hash) });
  }
  const metainfo = parseTorrent(bytesArg(args), config.maxTorrentSize * MiB);
  return retireTorrent(tracker, whitelist, { metainfo });
}
