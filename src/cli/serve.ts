/**
 * `hefur serve`: parses the options, sets up logging, starts Hefur and stops it gracefully on a
 * signal.
 *
 * Once every listener is bound, one line goes to standard error whatever the log level, for
 * scripts and tests to read the addresses from:
 * `hefur: ready pid=<pid> http=<host>:<port> …`.
 *
 * @module
 */
import { parseServeArgs, serveHelp, UsageError } from "./args.ts";
import { bindAddress, startHefur } from "../app.ts";
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

const log = getLogger("hefur");

function stderr(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text + "\n"));
}

/** Runs `hefur serve` with `args`; resolves with the process exit code. */
export async function serve(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-help") || args.includes("-h")) {
    console.log(serveHelp());
    return 0;
  }
  let config;
  let logConfig;
  try {
    config = parseServeArgs(args);
    logConfig = parseLogConfig(config);
  } catch (e) {
    if (
      e instanceof UsageError || e instanceof LogOptionError || e instanceof CompressionError ||
      e instanceof StrftimeError
    ) {
      stderr(`hefur serve: ${e.message}\nSee 'hefur serve --help'.`);
      return 2;
    }
    throw e;
  }
  if (config.logOrigins) {
    Deno.stdout.writeSync(new TextEncoder().encode(originsText(logConfig)));
    return 0;
  }

  let logging: Logging;
  try {
    logging = await startLogging(logConfig);
  } catch (e) {
    if (e instanceof LogFileError) {
      stderr(`hefur serve: ${e.message}`);
      return 1;
    }
    throw e;
  }

  let hefur;
  try {
    hefur = await startHefur(config);
  } catch (e) {
    log.fatal("cannot start: {error}", { error: e });
    stderr(`hefur serve: cannot start: ${(e as Error).message}`);
    await logging.close();
    return 1;
  }
  const where = bindAddress(config);
  const ready = [`pid=${Deno.pid}`];
  if (hefur.http) ready.push(`http=${where}:${hefur.http.addr.port}`);
  if (hefur.https) ready.push(`https=${where}:${hefur.https.addr.port}`);
  if (hefur.udp) ready.push(`udp=${where}:${hefur.udp.addr.port}`);
  if (hefur.ws) ready.push(`ws=${where}:${hefur.ws.addr.port}`);
  stderr(`hefur: ready ${ready.join(" ")}`);
  const scan = hefur.whitelist?.lastScan;
  const mode = scan === undefined
    ? "open mode (any torrent, bounded)"
    : `${scan.tracked} torrents from ${scan.files} files under ${hefur.whitelist!.root} ` +
      `(first scan: ${Math.round(scan.durationMs)} ms)`;
  log.info("tracking {mode}; {ready}", { mode, ready: ready.join(" ") });

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGQUIT"];
  const handlers = signals.map((s) => [s, () => stop(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  const reopen = () => {
    log.info("SIGHUP: reopening the log file");
    logging.release();
  };
  Deno.addSignalListener("SIGHUP", reopen);
  const signal = await stopped;
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  Deno.removeSignalListener("SIGHUP", reopen);
  log.info("{signal}: gracefully quitting", { signal });
  await hefur.close();
  await logging.close();
  return 0;
}
