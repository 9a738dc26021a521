/**
 * The `hefur` command: `hefur serve [options]`, `hefur ctl <command>`, `hefur --version`.
 *
 * @module
 */
import { ctl } from "./cli/ctl.ts";
import { serve } from "./cli/serve.ts";
import { takeBuildArgs, versionText } from "./version.ts";
import { platformHelp } from "./platform.ts";
import { explainSandbox, isSandboxRefusal } from "./cli/sandbox_message.ts";

const USAGE = `Usage: hefur <command> [options]

Commands:
  serve [options]   run the tracker (see 'hefur serve --help')
  ctl <command>     control a running tracker (see 'hefur ctl --help')
  --version         print the version, the commit and the Deno it was built with
  --help            print this help
`;

/**
 * Runs the command line; resolves with the exit code. `commit` is the build's commit, baked into
 * the compiled executable (see `version.ts`).
 */
export async function main(args: string[], commit = "unknown"): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "serve":
      return await serve(rest);
    case "ctl":
      return await ctl(rest);
    case "--version":
    case "-version":
    case "version":
      Deno.stdout.writeSync(new TextEncoder().encode(versionText(commit)));
      return 0;
    case undefined:
    case "--help":
    case "-help":
    case "-h":
    case "help":
      console.log(USAGE + platformHelp());
      return command === undefined ? 2 : 0;
    default:
      console.error(`hefur: unknown command "${command}"\n\n${USAGE}${platformHelp()}`);
      return 2;
  }
}

/**
 * The last resort for a path refused by Hefur's sandbox where no caller expected it: one line that
 * says it is Hefur's sandbox (Deno's own message names `deno run` flags `hefur` does not have).
 * Deno's report of the error follows, and the process stops as it would have.
 */
export function explainUncaughtRefusal(event: ErrorEvent | PromiseRejectionEvent): void {
  const error = event instanceof ErrorEvent ? event.error : event.reason;
  if (isSandboxRefusal(error)) console.error(`hefur: ${explainSandbox(error.message)}`);
}

if (import.meta.main) {
  globalThis.addEventListener("error", explainUncaughtRefusal);
  globalThis.addEventListener("unhandledrejection", explainUncaughtRefusal);
  const { commit, args } = takeBuildArgs(Deno.args);
  Deno.exit(await main(args, commit));
}
