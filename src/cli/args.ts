/**
 * Reads `hefur serve` arguments with commander, driven by the {@link OPTIONS} table, and the
 * `--config` file they may name (see `config_file.ts`): the command line overrides the file.
 *
 * Both `--name value` and the original's single-dash `-name value` are accepted (the original only
 * knows the latter; reference §2.1). Numbers are strict: `15min` is an error, not 15.
 *
 * @module
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { optionKey, OPTIONS, type OptionSpec } from "./options.ts";
import { EARLY_ANNOUNCE_POLICIES } from "../tracker/tracker.ts";
import { IpSet, IpSetError } from "../protocol/ip_set.ts";
import { canonicalIp } from "../protocol/ip.ts";
import { parseHostPort } from "../net/host_port.ts";
import { parseStoreSpec, StoreUrlError } from "../tracker/store_url.ts";
import { ConfigFileError, readConfigFile } from "./config_file.ts";
import { callerPath, configFilePath, PATH_OPTIONS } from "./caller_path.ts";

/** Everything `hefur serve` was told, keyed by camelCase option name. */
export interface ServeConfig {
  /** The `--config` file read, or "". */
  config: string;
  announceInterval: number;
  minAnnounceInterval: number;
  scrapeInterval: number;
  maxPeers: number;
  minNumwant: number;
  maxNumwant: number;
  maxTorrents: number;
  /** `memory` or a Redis URL (with credentials: print it only through `redactStoreUrl`). */
  store: string;
  maxScrapeTorrents: number;
  allowFullScrape: boolean;
  allowProxy: boolean;
  httpPort: number;
  httpsPort: number;
  udpPort: number;
  /** Undefined means the wildcard of the chosen family. */
  bindAddr?: string;
  ipv6: boolean;
  httpTimeout: number;
  maxHttpConnections: number;
  httpCert: string;
  httpKey: string;
  reverseProxyHeader: string;
  reverseProxyFrom: string[];
  disableWebsocket: boolean;
  wsPort: number;
  maxWsConnections: number;
  maxWsConnectionsPerIp: number;
  maxWsOffers: number;
  maxWsMessageSize: number;
  wsIdleTimeout: number;
  torrentDir: string;
  torrentDirMayBeMissing: boolean;
  scanInterval: number;
  maxScanDepth: number;
  maxScanInodes: number;
  followExternalLinks: boolean;
  maxTorrentSize: number;
  maxTorrentName: number;
  wwwDir: string;
  disableStatPage: boolean;
  disablePeersPage: boolean;
  disableFilePage: boolean;
  disableFeed: boolean;
  feedEntries: number;
  feedTitle: string;
  disableBadges: boolean;
  pageCache: number;
  pageRenderBudget: number;
  tplDebug: boolean;
  disableMetrics: boolean;
  /**
   * `ADDR:PORT` of a listener of its own for `/metrics`, or `control` for the control socket only;
   * undefined: the public HTTP port.
   */
  metricsBind?: string;
  /** "" keeps no state. */
  stateFile: string;
  stateInterval: number;
  statePeers: boolean;
  /** Undefined means the default location; "" disables the control socket. */
  controlSocket?: string;
  auditLog: string;
  logLevel: string;
  logFilter?: string;
  logOrigins: boolean;
  logColor: boolean;
  logFile: string;
  logRotationInterval: number;
  logCompression: string;
  earlyAnnounces: string;
  officialSeed: string[];
  denyFrom: string[];
  denyFile: string;
  announceRate: number;
  announceBurst: number;
  scrapeRate: number;
  scrapeBurst: number;
  pageRate: number;
  pageBurst: number;
  rateLimitAddresses: number;
  uid: string;
  gid: string;
  chroot: string;
}

/** A command line `hefur serve` cannot run with; the message says which argument and why. */
export class UsageError extends Error {
  override name = "UsageError";
}

const LONG_NAMES = new Set(OPTIONS.map((o) => o.name).concat(["help", "version"]));

/** Rewrites the original's `-name` form to `--name`, leaving short flags and values alone. */
export function normalizeDashes(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(arg);
    return m !== null && LONG_NAMES.has(m[1]) ? "-" + arg : arg;
  });
}

function integer(spec: OptionSpec) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value.trim())) {
      throw new InvalidArgumentError(`"${value}" is not a whole number.`);
    }
    const n = Number(value);
    if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
      throw new InvalidArgumentError(`${n} is outside ${spec.min}–${spec.max}.`);
    }
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return previous.concat(value.split(",").map((v) => v.trim()).filter((v) => v !== ""));
}

/** The commander command for `hefur serve`, built from the options table. */
export function serveCommand(): Command {
  const cmd = new Command("hefur serve")
    .description("run the tracker")
    .exitOverride()
    .configureOutput({
      writeErr: () => {},
      writeOut: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
    })
    .allowExcessArguments(false);
  for (const spec of OPTIONS) {
    const unit = spec.unit ? ` (${spec.unit})` : "";
    const flags = spec.type === "switch" ? `--${spec.name}` : `--${spec.name} <value>`;
    const opt = new Option(flags, spec.help + unit).helpGroup(`${spec.group}:`);
    if (spec.type === "int") opt.argParser(integer(spec));
    if (spec.type === "list") opt.argParser(collect);
    if (spec.default !== undefined) opt.default(spec.default);
    cmd.addOption(opt);
  }
  return cmd;
}

/** A parsed `hefur serve` command line, with where each value came from. */
export interface ServeArgs {
  config: ServeConfig;
  /**
   * How to name option `name` (long name) in a message: `--name`, or `FILE:LINE: name` when its
   * value came from the `--config` file.
   */
  origin(name: string): string;
}

/**
 * Parses `hefur serve` arguments into a {@link ServeConfig}. Throws {@link UsageError} with a
 * clear message for unknown options, bad values and options that cannot apply.
 */
export function parseServeArgs(argv: readonly string[]): ServeConfig {
  return parseServeCommandLine(argv).config;
}

/**
 * {@link parseServeArgs}, also telling where each value came from (for messages about values
 * checked later, such as the log level).
 */
export function parseServeCommandLine(argv: readonly string[]): ServeArgs {
  const cmd = serveCommand();
  try {
    cmd.parse(normalizeDashes(argv), { from: "user" });
  } catch (e) {
    const message = (e as { message?: string }).message ?? String(e);
    throw new UsageError(message.replace(/^error: /, ""));
  }
  for (const spec of OPTIONS) {
    if (
      spec.unavailable !== undefined && cmd.getOptionValueSource(optionKey(spec.name)) === "cli"
    ) {
      throw new UsageError(`option --${spec.name}: ${spec.unavailable}`);
    }
  }
  const file = cmd.getOptionValue("config")
    ? readConfig(callerPath(cmd.getOptionValue("config")))
    : undefined;
  for (const [name, value] of file?.values ?? []) {
    const key = optionKey(name);
    if (cmd.getOptionValueSource(key) !== "cli") cmd.setOptionValueWithSource(key, value, "config");
  }
  const origin = (name: string) =>
    file !== undefined && cmd.getOptionValueSource(optionKey(name)) === "config"
      ? `${file.path}:${file.lines.get(name) || "?"}: ${name}`
      : `--${name}`;
  const values = cmd.opts();
  for (const spec of OPTIONS) {
    const key = optionKey(spec.name);
    if (spec.type === "switch") values[key] = values[key] === true;
    if (spec.type === "list") values[key] ??= [];
  }
  for (const name of PATH_OPTIONS) {
    const key = optionKey(name);
    if (typeof values[key] !== "string") continue;
    values[key] = file !== undefined && cmd.getOptionValueSource(key) === "config"
      ? configFilePath(values[key], file.path)
      : callerPath(values[key]);
  }
  return { config: checkConfig(values as ServeConfig, origin), origin };
}

function readConfig(path: string) {
  try {
    return readConfigFile(path);
  } catch (e) {
    if (e instanceof ConfigFileError) throw new UsageError(e.message);
    throw e;
  }
}

/** Checks what each option's own parser cannot: values of a set, and options that go together. */
function checkConfig(config: ServeConfig, origin: (name: string) => string): ServeConfig {
  if (config.minNumwant > config.maxNumwant) {
    throw new UsageError(
      `--min-numwant (${config.minNumwant}) must not be larger than --max-numwant (${config.maxNumwant})`,
    );
  }
  if (!(EARLY_ANNOUNCE_POLICIES as readonly string[]).includes(config.earlyAnnounces)) {
    throw new UsageError(
      `${origin("early-announces")}: "${config.earlyAnnounces}" is not one of ${
        EARLY_ANNOUNCE_POLICIES.join(", ")
      }`,
    );
  }
  checkReverseProxyFrom(config.reverseProxyFrom);
  for (
    const [option, list] of [["official-seed", config.officialSeed], [
      "deny-from",
      config.denyFrom,
    ], ["reverse-proxy-from", config.reverseProxyFrom]] as const
  ) {
    try {
      new IpSet(list);
    } catch (e) {
      if (!(e instanceof IpSetError)) throw e;
      throw new UsageError(`${origin(option)}: ${e.message}`);
    }
  }
  let shared = false;
  try {
    shared = parseStoreSpec(config.store).kind !== "memory";
  } catch (e) {
    if (e instanceof StoreUrlError) {
      const where = origin("store");
      throw new UsageError(`${where.startsWith("--") ? `option ${where}` : where}: ${e.message}`);
    }
    throw e;
  }
  if (shared && config.stateFile !== "") {
    throw new UsageError(
      "--state-file keeps the in-memory store's counts; a shared --store keeps them itself",
    );
  }
  if (shared && config.officialSeed.length > 0) {
    throw new UsageError("--official-seed is not available with a shared --store (yet)");
  }
  if ((config.httpCert === "") !== (config.httpKey === "")) {
    throw new UsageError(
      "--http-cert and --http-key go together: HTTPS needs both the certificate and its key",
    );
  }
  if (config.metricsBind !== undefined) {
    if (config.disableMetrics) {
      throw new UsageError("--metrics-bind and --disable-metrics contradict each other");
    }
    if (config.metricsBind !== "control" && parseHostPort(config.metricsBind) === undefined) {
      throw new UsageError(
        `${
          origin("metrics-bind")
        }: "${config.metricsBind}" is neither ADDR:PORT (e.g. 127.0.0.1:9469 or [::1]:9469) nor "control"`,
      );
    }
  }
  return config;
}

/**
 * Refuses a bare `0.0.0.0` or `::` in `--reverse-proxy-from`. The original reads them as "trust
 * everyone"; here an address is one host, and those two are no host, so the entry would silently
 * match nothing. Trusting every address is written as a network: `0.0.0.0/0`, `::/0`.
 */
function checkReverseProxyFrom(entries: readonly string[]): void {
  for (const entry of entries) {
    const ip = canonicalIp(entry.trim());
    if (ip === "0.0.0.0" || ip === "::") {
      throw new UsageError(
        `--reverse-proxy-from ${entry}: a wildcard address matches no proxy; to trust every ` +
          `client write ${ip === "::" ? "::/0 (IPv6)" : "0.0.0.0/0 (IPv4)"}, or name the proxy`,
      );
    }
  }
}

/** The `--help` text of `hefur serve`. */
export function serveHelp(): string {
  return serveCommand().helpInformation();
}
