/**
 * The one table of `hefur serve` options. It feeds the command-line parser, the `--config` file's
 * keys, `--help`, the option list of docs/options.md and the example file deploy/hefur.toml, so
 * none of them can drift from the others. After a change, regenerate the last two with
 * `deno run -A src/cli/options_doc.ts --write` and `deno run -A src/cli/config_example.ts --write`
 * (tests check that both are current).
 *
 * Names, defaults and units are those of the original hefurd (reference §2.2); options Hefur adds
 * carry `isNew`, which docs/options.md shows (the help does not: it means nothing to a user who
 * never ran the original).
 *
 * @module
 */

/** How an option's value is read. */
export type OptionType = "switch" | "string" | "int" | "list";

/** One row of the table. */
export interface OptionSpec {
  /** Long name, used as `--name` or, like the original, `-name`. */
  name: string;
  type: OptionType;
  /** Default value (switches default to false, lists to []). */
  default?: string | number;
  /** Unit of an integer value, shown in the help. */
  unit?: string;
  /** Smallest and largest accepted integer. */
  min?: number;
  max?: number;
  group:
    | "Configuration"
    | "Tracker"
    | "Network"
    | "HTTP"
    | "WebSocket"
    | "Whitelist"
    | "Pages"
    | "Statistics"
    | "Control"
    | "Log"
    | "Security";
  help: string;
  /** The option is Hefur's own: the original hefurd lacks it. */
  isNew?: boolean;
  /**
   * When set, the option is recognised but refused with this message: it cannot apply (yet). Giving
   * it is an error, never silently ignored.
   */
  unavailable?: string;
}

const U16 = { min: 0, max: 65535 };
const U32 = { min: 0, max: 4294967295 };

/** Every option of `hefur serve`, grouped for `--help`. */
export const OPTIONS: readonly OptionSpec[] = [
  // Configuration
  {
    name: "config",
    type: "string",
    default: "",
    group: "Configuration",
    isNew: true,
    help:
      "TOML file of options, each under its long name (e.g. http-port = 6969); the command line overrides it",
  },
  // Tracker
  {
    name: "announce-interval",
    type: "int",
    default: 15,
    unit: "minutes",
    ...U32,
    min: 1,
    group: "Tracker",
    help: "interval clients are told to wait between announces; peers expire 5 minutes after it",
  },
  {
    name: "min-announce-interval",
    type: "int",
    default: 60,
    unit: "seconds",
    ...U32,
    group: "Tracker",
    isNew: true,
    help: "the `min interval` clients are told",
  },
  {
    name: "scrape-interval",
    type: "int",
    default: 15,
    unit: "minutes",
    ...U32,
    group: "Tracker",
    help: "min_request_interval sent with scrapes",
  },
  {
    name: "max-peers",
    type: "int",
    default: 1024,
    ...U32,
    min: 1,
    group: "Tracker",
    help: "peers kept per torrent; the peer heard from longest ago is evicted",
  },
  {
    name: "min-numwant",
    type: "int",
    default: 50,
    ...U32,
    group: "Tracker",
    help: "peers returned when a client does not say how many it wants; lower clamp",
  },
  {
    name: "max-numwant",
    type: "int",
    default: 100,
    ...U32,
    min: 1,
    group: "Tracker",
    help: "most peers returned by one announce",
  },
  {
    name: "max-torrents",
    type: "int",
    default: 100000,
    ...U32,
    min: 1,
    group: "Tracker",
    isNew: true,
    help: "most torrents tracked without --torrent-dir (open mode)",
  },
  {
    name: "max-scrape-torrents",
    type: "int",
    default: 74,
    ...U32,
    min: 1,
    group: "Tracker",
    isNew: true,
    help: "most info hashes in one scrape",
  },
  {
    name: "allow-full-scrape",
    type: "switch",
    group: "Tracker",
    isNew: true,
    help: "a scrape without info_hash lists every torrent",
  },
  {
    name: "allow-proxy",
    type: "switch",
    group: "Tracker",
    help: "let announces choose their address with `ip` (anyone can then register any address)",
  },
  {
    name: "early-announces",
    type: "string",
    default: "counts",
    group: "Tracker",
    isNew: true,
    help:
      "what a plain announce sooner than the min interval after the same peer's last gets: off (served as usual), counts (counters, no peers: the cheap path) or refuse (failure reason)",
  },
  {
    name: "official-seed",
    type: "list",
    group: "Tracker",
    isNew: true,
    help:
      "address or CIDR network of the publisher's own seeds (repeatable, or comma-separated); pages, badges, the JSON API and metrics show whether each torrent has one online",
  },
  {
    name: "store",
    type: "string",
    default: "memory",
    group: "Tracker",
    isNew: true,
    help: "where swarms live: memory, or redis://[user:password@]host:port[/db] " +
      "(rediss:// for TLS) to share them between several instances",
  },
  // Network
  {
    name: "http-port",
    type: "int",
    default: 6969,
    ...U16,
    group: "Network",
    help: "HTTP port, 0 disables",
  },
  {
    name: "https-port",
    type: "int",
    default: 6970,
    ...U16,
    group: "Network",
    help: "HTTPS port, used when --http-cert and --http-key are given; 0 disables",
  },
  {
    name: "udp-port",
    type: "int",
    default: 6969,
    ...U16,
    group: "Network",
    help: "UDP port, 0 disables",
  },
  {
    name: "bind-addr",
    type: "string",
    group: "Network",
    help: "local address of every listener (default 0.0.0.0, or :: with --ipv6)",
  },
  {
    name: "ipv6",
    type: "switch",
    group: "Network",
    help: "listen on IPv6 too (dual stack where the system allows)",
  },
  // HTTP
  {
    name: "http-timeout",
    type: "int",
    default: 2000,
    unit: "ms",
    ...U32,
    min: 1,
    group: "HTTP",
    help: "time a client has to send its request, and then to read the reply",
  },
  {
    name: "max-http-connections",
    type: "int",
    default: 4096,
    ...U32,
    min: 1,
    group: "HTTP",
    isNew: true,
    help: "open connections per HTTP(S) listener at most; more are refused (lowered at start " +
      "to fit the file descriptor limit)",
  },
  {
    name: "http-cert",
    type: "string",
    default: "",
    group: "HTTP",
    help: "PEM certificate (chain) for HTTPS; goes with --http-key",
  },
  {
    name: "http-key",
    type: "string",
    default: "",
    group: "HTTP",
    help: "PEM private key for HTTPS; goes with --http-cert",
  },
  {
    name: "reverse-proxy-header",
    type: "string",
    default: "X-Real-IP",
    group: "HTTP",
    help: "header carrying the client address when set by a trusted proxy",
  },
  {
    name: "reverse-proxy-from",
    type: "list",
    group: "HTTP",
    help: "address or CIDR network of a trusted reverse proxy (repeatable, or comma-separated)",
  },
  // WebSocket (WebTorrent)
  {
    name: "disable-websocket",
    type: "switch",
    group: "WebSocket",
    isNew: true,
    help: "no WebSocket tracker for WebTorrent (browser) clients",
  },
  {
    name: "ws-port",
    type: "int",
    default: 0,
    ...U16,
    group: "WebSocket",
    isNew: true,
    help:
      "a port serving only WebSocket clients; 0: WebSocket on the HTTP/HTTPS ports only (paths / and /announce)",
  },
  {
    name: "max-ws-connections",
    type: "int",
    default: 10000,
    ...U32,
    min: 1,
    group: "WebSocket",
    isNew: true,
    help: "open WebSocket connections at most; more are refused (lowered at start to fit " +
      "the file descriptor limit)",
  },
  {
    name: "max-ws-connections-per-ip",
    type: "int",
    default: 64,
    ...U32,
    min: 1,
    group: "WebSocket",
    isNew: true,
    help: "open WebSocket connections from one address at most",
  },
  {
    name: "max-ws-offers",
    type: "int",
    default: 10,
    ...U32,
    min: 1,
    group: "WebSocket",
    isNew: true,
    help: "most WebRTC offers in one announce; more is refused",
  },
  {
    name: "max-ws-message-size",
    type: "int",
    default: 64,
    unit: "KiB",
    min: 1,
    max: 16384,
    group: "WebSocket",
    isNew: true,
    help: "largest WebSocket message; larger ones close the connection",
  },
  {
    name: "ws-idle-timeout",
    type: "int",
    default: 120,
    unit: "seconds",
    ...U32,
    min: 2,
    group: "WebSocket",
    isNew: true,
    help: "a WebSocket silent this long is closed; it is pinged halfway",
  },
  // Whitelist
  {
    name: "torrent-dir",
    type: "string",
    default: "",
    group: "Whitelist",
    help:
      "track only the .torrent files under this directory; empty: track any torrent (bounded). A directory that does not exist stops start-up",
  },
  {
    name: "torrent-dir-may-be-missing",
    type: "switch",
    group: "Whitelist",
    isNew: true,
    help:
      "start even when --torrent-dir does not exist yet; announces are refused until a walk (every --scan-interval) finds it",
  },
  {
    name: "scan-interval",
    type: "int",
    default: 60,
    unit: "seconds",
    ...U32,
    min: 1,
    group: "Whitelist",
    help: "pause between two full walks of --torrent-dir",
  },
  {
    name: "max-scan-depth",
    type: "int",
    default: 64,
    ...U32,
    group: "Whitelist",
    help: "deepest directory level walked",
  },
  {
    name: "max-scan-inodes",
    type: "int",
    default: 131072,
    ...U32,
    group: "Whitelist",
    help: "most directory entries one walk visits",
  },
  {
    name: "follow-external-links",
    type: "switch",
    group: "Whitelist",
    isNew: true,
    help:
      "follow symbolic links in --torrent-dir that lead outside it (never into a path the sandbox denies)",
  },
  {
    name: "max-torrent-size",
    type: "int",
    default: 10,
    unit: "MiB",
    ...U32,
    group: "Whitelist",
    help: "larger .torrent files are skipped",
  },
  {
    name: "max-torrent-name",
    type: "int",
    default: 64,
    ...U32,
    group: "Whitelist",
    help: "pages cut torrent names to this many characters (links and the feed keep them whole)",
  },
  // Pages
  {
    name: "www-dir",
    type: "string",
    default: "",
    group: "Pages",
    help:
      "directory whose files (tpl/page.html, css/, js/, img/) override the embedded page assets",
  },
  {
    name: "disable-stat-page",
    type: "switch",
    group: "Pages",
    help: "turn /stat off",
  },
  {
    name: "disable-peers-page",
    type: "switch",
    group: "Pages",
    help: "turn /peers off",
  },
  {
    name: "disable-file-page",
    type: "switch",
    group: "Pages",
    help: "turn /file off",
  },
  {
    name: "disable-feed",
    type: "switch",
    group: "Pages",
    isNew: true,
    help: "turn the release feed /feed.atom off",
  },
  {
    name: "feed-entries",
    type: "int",
    default: 50,
    min: 1,
    max: 1000,
    group: "Pages",
    isNew: true,
    help: "newest torrents listed in /feed.atom",
  },
  {
    name: "feed-title",
    type: "string",
    default: "Releases",
    group: "Pages",
    isNew: true,
    help: "title of /feed.atom",
  },
  {
    name: "disable-badges",
    type: "switch",
    group: "Pages",
    isNew: true,
    help: "turn the swarm badges /badge/<info hash>.svg off",
  },
  {
    name: "page-cache",
    type: "int",
    default: 5,
    unit: "seconds",
    ...U32,
    group: "Pages",
    isNew: true,
    help:
      "a rendered /stat, /peers, API document, feed, badge or /metrics is served again as it is for this long; 0: render every request",
  },
  {
    name: "page-render-budget",
    type: "int",
    default: 100,
    unit: "ms per second",
    min: 0,
    max: 1000,
    group: "Pages",
    isNew: true,
    help:
      "time all page renders may take together; past it cached pages are served stale, others get 503; 0: no budget",
  },
  {
    name: "tpl-debug",
    type: "switch",
    group: "Pages",
    help: "the original's template debugging",
    unavailable: "Hefur's pages are not mimosa templates, so there is nothing to debug",
  },
  // Statistics
  {
    name: "disable-metrics",
    type: "switch",
    group: "Statistics",
    isNew: true,
    help: "turn /metrics (Prometheus text format) off",
  },
  {
    name: "metrics-bind",
    type: "string",
    group: "Statistics",
    isNew: true,
    help:
      "serve /metrics on this ADDR:PORT (e.g. 127.0.0.1:9469 or [::1]:9469) instead of the public HTTP port; `control`: only through `hefur ctl metrics`",
  },
  {
    name: "state-file",
    type: "string",
    default: "",
    group: "Statistics",
    isNew: true,
    help: "file keeping completed counts and other per-torrent totals across restarts; empty: none",
  },
  {
    name: "state-interval",
    type: "int",
    default: 300,
    unit: "seconds",
    ...U32,
    group: "Statistics",
    isNew: true,
    help: "time between saves of --state-file (it is also saved at shutdown); 0: only then",
  },
  {
    name: "state-peers",
    type: "switch",
    group: "Statistics",
    isNew: true,
    help: "keep live peers in --state-file too, so a quick restart does not empty the swarms",
  },
  // Control
  {
    name: "control-socket",
    type: "string",
    group: "Control",
    help:
      "Unix socket of `hefur ctl` (default: $HEFUR_CONTROL_SOCKET, $RUNTIME_DIRECTORY/control, /run/hefur/control for root, $XDG_RUNTIME_DIR/hefur/control or /tmp/hefur-UID/control); empty disables it",
  },
  {
    name: "audit-log",
    type: "string",
    default: "",
    group: "Control",
    isNew: true,
    help:
      "also append every control action (time, command, result, hashes) to this file as JSON lines; the audit log origin has them in any case",
  },
  // Log
  {
    name: "log-level",
    type: "string",
    default: "warning",
    group: "Log",
    help: "debug, info, warning, error, critical or fatal",
  },
  {
    name: "log-filter",
    type: "string",
    group: "Log",
    help:
      "per-origin levels, overriding --log-level: origin:level, +origin (debug), -origin (critical), origin (info)",
  },
  {
    name: "log-origins",
    type: "switch",
    group: "Log",
    help: "list the log origins and exit",
  },
  {
    name: "log-color",
    type: "switch",
    group: "Log",
    help: "colour log lines by level",
  },
  {
    name: "log-file",
    type: "string",
    default: "",
    group: "Log",
    help: "strftime pattern (%Y %m %d %H %M %S %j %s) of the log file; empty: standard error",
  },
  {
    name: "log-rotation-interval",
    type: "int",
    default: 0,
    unit: "seconds",
    ...U32,
    group: "Log",
    help: "start a new log file this often; 0: never",
  },
  {
    name: "log-compression",
    type: "string",
    default: "identity",
    group: "Log",
    help: "compression of rotated logs: identity, gzip or zstd (Deno cannot write xz)",
  },
  // Security
  {
    name: "deny-from",
    type: "list",
    group: "Security",
    isNew: true,
    help:
      "address or CIDR network whose announces and scrapes are refused (repeatable, or comma-separated)",
  },
  {
    name: "deny-file",
    type: "string",
    default: "",
    group: "Security",
    isNew: true,
    help:
      "file of networks to refuse, one address or CIDR per line, # comments; reloaded when it changes",
  },
  {
    name: "announce-rate",
    type: "int",
    default: 60,
    unit: "per minute",
    ...U32,
    group: "Security",
    isNew: true,
    help: "announces per address (per /64 for IPv6) once its burst is spent; 0: no limit",
  },
  {
    name: "announce-burst",
    type: "int",
    default: 600,
    ...U32,
    min: 1,
    group: "Security",
    isNew: true,
    help: "announces an address may make at once (a client starting many torrents)",
  },
  {
    name: "scrape-rate",
    type: "int",
    default: 60,
    unit: "per minute",
    ...U32,
    group: "Security",
    isNew: true,
    help: "scrapes per address (per /64 for IPv6) once its burst is spent; 0: no limit",
  },
  {
    name: "scrape-burst",
    type: "int",
    default: 300,
    ...U32,
    min: 1,
    group: "Security",
    isNew: true,
    help: "scrapes an address may make at once",
  },
  {
    name: "page-rate",
    type: "int",
    default: 120,
    unit: "per minute",
    ...U32,
    group: "Security",
    isNew: true,
    help:
      "page, API, feed, badge, asset and /metrics requests per address (per /64 for IPv6) once its burst is spent; 0: no limit",
  },
  {
    name: "page-burst",
    type: "int",
    default: 60,
    ...U32,
    min: 1,
    group: "Security",
    isNew: true,
    help: "page requests an address may make at once",
  },
  {
    name: "rate-limit-addresses",
    type: "int",
    default: 100000,
    ...U32,
    min: 1,
    group: "Security",
    isNew: true,
    help: "most addresses whose rates are tracked at once (memory bound)",
  },
  {
    name: "uid",
    type: "string",
    default: "",
    group: "Security",
    help:
      "user (name or number) to switch to once the sockets are bound; a name sets its group too",
  },
  {
    name: "gid",
    type: "string",
    default: "",
    group: "Security",
    help: "group (name or number) to switch to once the sockets are bound",
  },
  {
    name: "chroot",
    type: "string",
    default: "",
    group: "Security",
    help: "refused: use the permission sandbox and the service manager",
    unavailable:
      "Deno cannot chroot. Hefur already runs in Deno's permission sandbox (see docs/security.md); use your service manager's RootDirectory= or a container for a file-system jail",
  },
];

/** camelCase key of an option name: `torrent-dir` → `torrentDir`. */
export function optionKey(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
