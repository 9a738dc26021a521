/**
 * Reads `hefur serve` arguments with commander, driven by the {@link OPTIONS} table.
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
import { parseHostPort } from "../net/host_port.ts";
import { parseStoreSpec, StoreUrlError } from "../tracker/store_url.ts";

/** Everything `hefur serve` was told, keyed by camelCase option name. */
export interface ServeConfig {
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
  scanInterval: number;
  maxScanDepth: number;
  maxScanInodes: number;
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
  const cmd = new Command("serve")
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

/**
 * Parses `hefur serve` arguments into a {@link ServeConfig}. Throws {@link UsageError} with a
 * clear message for unknown options, bad values and options that cannot apply.
 */
export function parseServeArgs(argv: readonly string[]): ServeConfig {
  const cmd = serveCommand();
  try {
    cmd.parse(normalizeDashes(argv), { from: "user" });
  } catch (e) {
    const message = (e as { message?: string }).message ?? String(e);
    throw new UsageError(message.replace(/^error: /, ""));
  }
  const values = cmd.opts();
  for (const spec of OPTIONS) {
    const key = optionKey(spec.name);
    if (spec.unavailable !== undefined && cmd.getOptionValueSource(key) === "cli") {
      throw new UsageError(`option --${spec.name}: ${spec.unavailable}`);
    }
    if (spec.type === "switch") values[key] = values[key] === true;
    if (spec.type === "list") values[key] ??= [];
  }
  const config = values as ServeConfig;
  if (config.minNumwant > config.maxNumwant) {
    throw new UsageError(
      `--min-numwant (${config.minNumwant}) must not be larger than --max-numwant (${config.maxNumwant})`,
    );
  }
  if (!(EARLY_ANNOUNCE_POLICIES as readonly string[]).includes(config.earlyAnnounces)) {
    throw new UsageError(
      `--early-announces: "${config.earlyAnnounces}" is not one of ${
        EARLY_ANNOUNCE_POLICIES.join(", ")
      }`,
    );
  }
  for (
    const [option, list] of [["official-seed", config.officialSeed], [
      "deny-from",
      config.denyFrom,
    ]] as const
  ) {
    try {
      new IpSet(list);
    } catch (e) {
      if (!(e instanceof IpSetError)) throw e;
      throw new UsageError(`--${option}: ${e.message}`);
    }
  }
  let shared = false;
  try {
    shared = parseStoreSpec(config.store).kind !== "memory";
  } catch (e) {
    if (e instanceof StoreUrlError) throw new UsageError(`option --store: ${e.message}`);
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
        `--metrics-bind: "${config.metricsBind}" is neither ADDR:PORT (e.g. 127.0.0.1:9469 or [::1]:9469) nor "control"`,
      );
    }
  }
  return config;
}

/** The `--help` text of `hefur serve`. */
export function serveHelp(): string {
  return serveCommand().helpInformation();
}
