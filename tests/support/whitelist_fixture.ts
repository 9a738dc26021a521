// A whitelist over a fresh temporary directory, for the tests that drive one by hand.
import { Tracker } from "../../src/tracker/tracker.ts";
import {
  Whitelist,
  type WhitelistLogLevel,
  type WhitelistOptions,
} from "../../src/whitelist/whitelist.ts";

/** What {@link whitelistFixture} sets up; removed at the end of its `await using` block. */
export interface WhitelistFixture {
  /** The torrent directory (empty at start). */
  dir: string;
  /** A closed-mode tracker the whitelist feeds. */
  tracker: Tracker;
  whitelist: Whitelist;
  /** Every line the whitelist logged, with its level. */
  logs: [WhitelistLogLevel, string][];
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A temporary directory (named with `prefix`), a closed tracker, and a whitelist over the directory
 * with `options` (not started, not watching).
 */
export async function whitelistFixture(
  options: Partial<WhitelistOptions> = {},
  prefix = "hefur-wl-",
): Promise<WhitelistFixture> {
  const dir = await Deno.makeTempDir({ prefix });
  const tracker = new Tracker({ open: false });
  const logs: [WhitelistLogLevel, string][] = [];
  const whitelist = new Whitelist(tracker, {
    root: dir,
    watch: false,
    log: (level, message) => logs.push([level, message]),
    ...options,
  });
  return {
    dir,
    tracker,
    whitelist,
    logs,
    async [Symbol.asyncDispose]() {
      await whitelist.close();
      // A test may have made the directory unreadable.
      await Deno.chmod(dir, 0o755).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}
