/**
 * `hefur serve`: parses the options, starts Hefur and stops it gracefully on a signal.
 *
 * @module
 */
import { parseServeArgs, serveHelp, UsageError } from "./args.ts";
import { bindAddress, startHefur } from "../app.ts";

/** Runs `hefur serve` with `args`; resolves with the process exit code. */
export async function serve(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-help") || args.includes("-h")) {
    console.log(serveHelp());
    return 0;
  }
  let config;
  try {
    config = parseServeArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`hefur serve: ${e.message}\nSee 'hefur serve --help'.`);
      return 2;
    }
    throw e;
  }
  let hefur;
  try {
    hefur = startHefur(config);
  } catch (e) {
    console.error(`hefur serve: cannot start: ${(e as Error).message}`);
    return 1;
  }
  const where = bindAddress(config);
  if (hefur.http) {
    console.error(`hefur: HTTP tracker on http://${where}:${hefur.http.addr.port}/announce`);
  }
  const mode = config.torrentDir === "" ? "open mode (any torrent, bounded)" : config.torrentDir;
  console.error(`hefur: tracking ${mode}`);

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGQUIT"];
  const handlers = signals.map((s) => [s, () => stop(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  const signal = await stopped;
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  console.error(`hefur: ${signal}: stopping`);
  await hefur.close();
  return 0;
}
