/**
 * `hefur serve`: parses the options, sets up logging, starts Hefur and its control socket, drops
 * privileges, and stops gracefully on SIGINT, SIGTERM, SIGQUIT or `hefur ctl quit`; SIGHUP
 * reopens the log file and rescans the torrent directory.
 *
 * Once every socket is bound, one line goes to standard error whatever the log level, for
 * scripts and tests to read the addresses from:
 * `hefur: ready pid=<pid> http=<host>:<port> control=<path>`.
 *
 * @module
 */
import { parseServeCommandLine, type ServeConfig, serveHelp, UsageError } from "./args.ts";
import { checkStateFile, preflight, PreflightError } from "./preflight.ts";
import { explainSandbox, isSandboxRefusal } from "./sandbox_message.ts";
import { bindAddress, type Hefur, startHefur } from "../app.ts";
import {
  CompressionError,
  getLogger,
  LogFileError,
  type Logging,
  LogOptionError,
  originsText,
  parseLogConfig,
  startLogging,
  StrftimeError,
} from "../log/mod.ts";
import { ControlServer, ControlSocketError } from "../control/server.ts";
import { controlHandler } from "../control/commands.ts";
import { auditedHandler, AuditLog, AuditLogError } from "../control/audit.ts";
import { defaultSocketPathHere } from "../control/socket_path.ts";
import { platformHelp, platformWarning } from "../platform.ts";
import { formatHostPort } from "../net/host_port.ts";
import {
  dropPrivileges,
  type Identity,
  PrivilegeError,
  resolveIdentityHere,
} from "../process/privileges.ts";

const log = getLogger("hefur");

/** How long a graceful stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 10_000;

function stderr(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text + "\n"));
}

/**
 * Says how many torrents of the state file are tracked, once that is known: in whitelist mode,
 * after the first walk of the torrent directory (the state is read before it).
 */
function logRestored(hefur: Hefur): void {
  const load = hefur.state?.lastLoad;
  if (load?.outcome !== "loaded" || load.torrents === 0) return;
  let waiting = load.torrents - load.applied;
  if (hefur.whitelist) {
    waiting = 0;
    for (const _ of hefur.tracker.pending()) waiting++;
  }
  log.info("state: {tracked} of the {saved} torrents of the state file are tracked{rest}", {
    tracked: load.torrents - waiting,
    saved: load.torrents,
    rest: waiting > 0 ? "; the others keep their counts until they are tracked again" : "",
  });
}

/**
 * The option a logging or identity error is about, for its message (which may come from the
 * `--config` file); undefined when the message names it already (`--uid`, `--gid`).
 */
function optionOf(
  e: LogOptionError | CompressionError | StrftimeError | PrivilegeError,
  config: ServeConfig,
): string | undefined {
  if (e instanceof CompressionError) return "log-compression";
  if (e instanceof StrftimeError) return "log-file";
  if (e instanceof LogOptionError) {
    return config.logFilter?.includes(e.value) ? "log-filter" : "log-level";
  }
  return undefined;
}

/** Runs `hefur serve` with `args`; resolves with the process exit code. */
export async function serve(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-help") || args.includes("-h")) {
    console.log(serveHelp() + platformHelp());
    return 0;
  }
  let config: ServeConfig;
  let origin: (name: string) => string;
  let logConfig;
  let identity: Identity;
  try {
    ({ config, origin } = parseServeCommandLine(args));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    stderr(`hefur serve: ${e.message}\nSee 'hefur serve --help'.`);
    return 2;
  }
  try {
    logConfig = parseLogConfig(config);
    identity = resolveIdentityHere(config.uid, config.gid);
  } catch (e) {
    if (
      !(e instanceof LogOptionError || e instanceof CompressionError ||
        e instanceof StrftimeError || e instanceof PrivilegeError)
    ) throw e;
    const option = optionOf(e, config);
    const where = option === undefined ? "" : `${origin(option)}: `;
    stderr(`hefur serve: ${where}${e.message}\nSee 'hefur serve --help'.`);
    return 2;
  }
  if (config.logOrigins) {
    Deno.stdout.writeSync(new TextEncoder().encode(originsText(logConfig)));
    return 0;
  }
  try {
    preflight(config, origin);
  } catch (e) {
    if (!(e instanceof PreflightError)) throw e;
    stderr(`hefur serve: ${e.message}`);
    return 1;
  }

  let logging: Logging;
  try {
    logging = await startLogging(logConfig);
  } catch (e) {
    if (e instanceof LogFileError) {
      stderr(`hefur serve: ${explainSandbox(e.message)}`);
      return 1;
    }
    throw e;
  }

  // Signals are caught from here on, before the ready line: a stop asked for during start-up
  // waits for it to finish, then stops gracefully.
  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGQUIT"];
  const handlers = signals.map((s) => [s, () => stop(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  let running: Hefur | undefined;
  let reopenAudit = () => {};
  const hangup = () => {
    const whitelist = running?.whitelist;
    log.info("SIGHUP: reopening the log file{rescan}", {
      rescan: whitelist ? " and rescanning the torrent directory" : "",
    });
    logging.release();
    reopenAudit();
    whitelist?.scanNow().catch(() => {/* logged by the whitelist */});
  };
  Deno.addSignalListener("SIGHUP", hangup);
  const unlisten = () => {
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    Deno.removeSignalListener("SIGHUP", hangup);
  };

  const fail = async (text: string, ...open: ({ close(): Promise<void> } | undefined)[]) => {
    const message = explainSandbox(text);
    unlisten();
    log.fatal("{message}", { message });
    if (logging.file !== undefined) stderr(`hefur serve: ${message}`);
    for (const o of open) await o?.close();
    await logging.close();
    return 1;
  };

  // On a partly supported system (src/platform.ts), what is missing, once, before anything starts.
  const missing = platformWarning();
  if (missing !== undefined) log.warning("{missing}", { missing });

  const startedAt = Date.now();
  let hefur: Hefur;
  try {
    hefur = await startHefur(config);
    running = hefur;
  } catch (e) {
    return await fail(`cannot start: ${(e as Error).message}`);
  }

  let audit: AuditLog;
  try {
    audit = new AuditLog(config.auditLog);
  } catch (e) {
    if (!(e instanceof AuditLogError)) throw e;
    return await fail(e.message, hefur);
  }
  const closeAudit = { close: () => Promise.resolve(audit.close()) };
  reopenAudit = () => audit.reopen();

  let control: ControlServer | undefined;
  const controlPath = config.controlSocket ?? defaultSocketPathHere();
  if (controlPath !== "") {
    try {
      control = await ControlServer.listen(
        controlPath,
        auditedHandler(controlHandler({ hefur, logging, startedAt, stop }), audit),
      );
    } catch (e) {
      if (e instanceof ControlSocketError) return await fail(e.message, hefur, closeAudit);
      if (!isSandboxRefusal(e)) throw e;
      return await fail(
        `control socket ${controlPath}: ${(e as Error).message}`,
        hefur,
        closeAudit,
      );
    }
  }

  try {
    const handOver = [...control?.ownedPaths() ?? []];
    if (logging.file !== undefined) handOver.push(logging.file.path);
    if (audit.path !== "") handOver.push(audit.path);
    dropPrivileges(identity, handOver);
  } catch (e) {
    if (!(e instanceof PrivilegeError)) throw e;
    return await fail(`cannot drop privileges: ${e.message}`, control, hefur, closeAudit);
  }
  // The state file was checked as the user Hefur started as; saves are made by the one it became.
  if (identity.uid !== undefined || identity.gid !== undefined) {
    try {
      checkStateFile(config, origin);
    } catch (e) {
      if (!(e instanceof PreflightError)) throw e;
      const who = [
        identity.uid !== undefined && `uid ${identity.uid}`,
        identity.gid !== undefined && `gid ${identity.gid}`,
      ].filter(Boolean).join(", ");
      return await fail(
        `${e.message} (checked again after becoming ${who})`,
        control,
        { close: () => hefur.close(false) },
        closeAudit,
      );
    }
  }

  const where = bindAddress(config);
  const ready = [`pid=${Deno.pid}`];
  if (hefur.http) ready.push(`http=${formatHostPort(where, hefur.http.addr.port)}`);
  if (hefur.https) ready.push(`https=${formatHostPort(where, hefur.https.addr.port)}`);
  if (hefur.udp) ready.push(`udp=${formatHostPort(where, hefur.udp.addr.port)}`);
  if (hefur.ws) ready.push(`ws=${formatHostPort(where, hefur.ws.addr.port)}`);
  if (hefur.metricsHttp) {
    const { hostname, port } = hefur.metricsHttp.addr;
    ready.push(`metrics=${formatHostPort(hostname, port)}`);
  }
  if (control) ready.push(`control=${control.path}`);
  stderr(`hefur: ready ${ready.join(" ")}`);
  const scan = hefur.whitelist?.lastScan;
  const mode = scan === undefined
    ? "open mode (any torrent, bounded)"
    : `${scan.tracked} torrents from ${scan.files} files under ${hefur.whitelist!.root} ` +
      `(first scan: ${Math.round(scan.durationMs)} ms)`;
  log.info("tracking {mode}; {ready}", { mode, ready: ready.join(" ") });
  logRestored(hefur);

  const reason = await stopped;
  log.info("{reason}: gracefully quitting", { reason });
  // A stop that hangs (a stuck connection) must not keep the process alive forever.
  const deadline = setTimeout(() => {
    log.error("graceful stop took longer than {ms} ms: exiting", { ms: STOP_DEADLINE_MS });
    stderr(`hefur: graceful stop took longer than ${STOP_DEADLINE_MS} ms: exiting`);
    Deno.exit(1);
  }, STOP_DEADLINE_MS);
  await control?.close();
  await hefur.close();
  audit.close();
  await logging.close();
  clearTimeout(deadline);
  unlisten();
  return 0;
}
