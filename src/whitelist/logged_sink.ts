/**
 * The tracker as the whitelist's {@link TorrentSink}, saying at `info` which torrent starts or
 * stops being tracked: whether the periodic walk, the directory watcher or `hefur ctl` found the
 * change, the operator reads one line for it.
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";
import { binaryToHex } from "../protocol/binary.ts";
import type { TorrentInfo, Tracker } from "../tracker/tracker.ts";
import type { TorrentSink } from "./whitelist.ts";

const log = getLogger("whitelist");

/** A {@link TorrentSink} that logs each change; `quiet` holds the lines back while it is set. */
export interface LoggedSink extends TorrentSink {
  /**
   * Set during the first walk, which the start-up line sums up: thousands of torrents would
   * otherwise bury the log in lines nobody asked for.
   */
  quiet: boolean;
}

/** `tracker` as a sink that logs every torrent added or removed. */
export function loggedSink(tracker: Tracker): LoggedSink {
  return {
    quiet: false,
    addTorrent(infoHash: string, info: TorrentInfo) {
      const isNew = tracker.get(infoHash) === undefined;
      const torrent = tracker.addTorrent(infoHash, info);
      if (isNew && !this.quiet) {
        log.info("tracking {name} ({hash}) from {path}", {
          name: info.name,
          hash: binaryToHex(info.fullHash ?? infoHash),
          path: info.path ?? "?",
        });
      }
      return torrent;
    },
    removeTorrent(infoHash: string) {
      const info = tracker.get(infoHash)?.info;
      const removed = tracker.removeTorrent(infoHash);
      if (removed && !this.quiet) {
        log.info("no longer tracking {name} ({hash}): its .torrent file is gone or changed", {
          name: info?.name ?? "?",
          hash: binaryToHex(info?.fullHash ?? infoHash),
        });
      }
      return removed;
    },
  };
}
