/**
 * `hefur ctl`: talks to a running `hefur serve` over its control socket.
 *
 * ```text
 * hefur ctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]
 *   status                       uptime, torrents, peers, request counters
 *   release-torrent FILE…        publish .torrent files into the torrent directory
 *   retire-torrent HASH|FILE…    stop tracking torrents and remove their files
 *   release-logs                 reopen (rotate) the log file
 *   metrics                      the metrics, in the Prometheus text format
 *   quit                         stop the server gracefully
 * ```
 *
 * Exit codes: 0 every command succeeded, 1 a command failed (refused by the server, or a file
 * could not be read), 2 usage error, 3 the server could not be reached, did not answer, or answered
 * with something that is not a control response.
 *
 * The original `hefurctl`'s spelling works too, as `hefur serve` takes `-name` options:
 * `hefur ctl -socket PATH -release-logs -quit` (see {@link normalizeCtlArgs}).
 *
 * @module
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { basename } from "node:path";
import { callerPath } from "./caller_path.ts";
import { nounFor } from "../pages/format.ts";
import { ControlClient, ControlNoAnswerError, ControlUnreachableError } from "../control/client.ts";
import {
  ControlError,
  MAX_LINE_BYTES,
  type MetricsResult,
  type ReleaseResult,
  type RetireResult,
  type StatusResult,
} from "../control/protocol.ts";
import { defaultSocketPathHere } from "../control/socket_path.ts";
import { explainSandbox } from "./sandbox_message.ts";
import { readFileSafelySync } from "../sandbox/safe_files.ts";

/** Exit codes of `hefur ctl`. */
export const CTL_EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

const encoder = new TextEncoder();
const out = (s: string) => Deno.stdout.writeSync(encoder.encode(s + "\n"));
const err = (s: string) => Deno.stderr.writeSync(encoder.encode(s + "\n"));

interface CtlOptions {
  socket?: string;
  json: boolean;
  timeout: number;
}

/** One step of a command: a request, and how to show its answer. */
interface Step {
  /** What the step is about (a file or hash), for messages. */
  subject?: string;
  cmd: string;
  args: Record<string, unknown>;
  show(result: unknown): string;
  /** Set when the step failed before reaching the server (an unreadable file). */
  localError?: string;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value.trim()) || !(n > 0) || n > 3600) {
    throw new InvalidArgumentError(`"${value}" is not a number of seconds between 0 and 3600.`);
  }
  return n;
}

function ctlCommand(run: (steps: Step[], opts: CtlOptions) => void): Command {
  const program = new Command("hefur ctl")
    .description("talk to a running hefur serve over its control socket")
    .option("--socket <path>", "control socket (default: as hefur serve, see --help)")
    .option("--json", "print results as JSON lines, for scripts")
    .option("--timeout <seconds>", "give up waiting for the server after this long", seconds, 5)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => Deno.stdout.writeSync(encoder.encode(s)),
      writeErr: () => {},
    })
    .addHelpText(
      "after",
      `
The default socket is $HEFUR_CONTROL_SOCKET, else $RUNTIME_DIRECTORY/control, else
/run/hefur/control for root, else $XDG_RUNTIME_DIR/hefur/control, else /tmp/hefur-<uid>/control.

Exit codes: 0 ok, 1 a command failed, 2 usage error, 3 server unreachable or not answering.`,
    );
  const opts = () => program.opts() as CtlOptions;
  const sub = (name: string, description: string) =>
    program.command(name).description(description).exitOverride().configureOutput({
      writeOut: (s) => Deno.stdout.writeSync(encoder.encode(s)),
      writeErr: () => {},
    });

  sub("status", "show uptime, torrents, peers and request counters").action(() =>
    run([{ cmd: "status", args: {}, show: (r) => statusText(r as StatusResult) }], opts())
  );
  sub("release-torrent", "publish .torrent files: validate, place in the torrent directory, track")
    .argument("<file...>", ".torrent files")
    .action((files: string[]) => run(files.map(releaseStep), opts()));
  sub("retire-torrent", "stop tracking torrents (by info hash or .torrent) and remove their files")
    .argument("<hash-or-file...>", "40 or 64 hex digits, or a .torrent file")
    .action((targets: string[]) => run(targets.map(retireStep), opts()));
  sub("release-logs", "reopen the log file (rotating it as configured)").action(() =>
    run([{
      cmd: "release-logs",
      args: {},
      show: (r) => {
        const file = (r as { file?: string }).file;
        return file ? `log file reopened: ${file}` : "logs released (logging to standard error)";
      },
    }], opts())
  );
  sub("metrics", "print the metrics in the Prometheus text format").action(() =>
    run([{
      cmd: "metrics",
      args: {},
      show: (r) => (r as MetricsResult).text.trimEnd(),
    }], opts())
  );
  sub("quit", "stop the server gracefully").action(() =>
    run([{ cmd: "quit", args: {}, show: () => "the server is stopping" }], opts())
  );
  return program;
}

function readTorrent(file: string): { data?: string; error?: string } {
  try {
    // As the server reads torrents: never through a link into a path the sandbox denies.
    return { data: readFileSafelySync(callerPath(file), MAX_LINE_BYTES).toBase64() };
  } catch (e) {
    return { error: `cannot read ${file}: ${explainSandbox((e as Error).message)}` };
  }
}

function releaseStep(file: string): Step {
  const { data, error } = readTorrent(file);
  return {
    subject: file,
    cmd: "release-torrent",
    args: { name: basename(file), data },
    localError: error,
    show: (r) => {
      const res = r as ReleaseResult;
      return [
        `released ${res.name}`,
        `  file:   ${res.file}`,
        ...res.infoHashes.map((h) =>
          h.version === 1
            ? `  v1 info hash: ${h.hex}`
            : `  v2 info hash: ${h.hex} (announced as ${h.wire})`
        ),
        `  magnet: ${res.magnet}`,
      ].join("\n");
    },
  };
}

function retireStep(target: string): Step {
  const show = (r: unknown) => {
    const res = r as RetireResult;
    const name = res.name ? ` ${res.name}` : "";
    const removed = res.removedFiles.map((f) => `\n  removed ${f}`).join("");
    return `retired${name}: ${res.retired.join(", ")}${removed}`;
  };
  const looksLikeHash = /^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/.test(target);
  let isFile = false;
  try {
    isFile = Deno.statSync(callerPath(target)).isFile;
  } catch { /* not a file: a hash, or a mistake the server or this check reports */ }
  if (looksLikeHash && !isFile) {
    return { subject: target, cmd: "retire-torrent", args: { hash: target }, show };
  }
  const { data, error } = readTorrent(target);
  return {
    subject: target,
    cmd: "retire-torrent",
    args: { data },
    show,
    localError: error === undefined ? undefined : `${error} (nor is it a 40 or 64 digit info hash)`,
  };
}

/** The WebSocket part of the request counts, said only when there is one. */
function webtorrentRequests(w: StatusResult["requests"]["webtorrent"]): string {
  if (w.announces + w.scrapes + w.failures === 0) return "";
  return ` (over WebSocket: ${w.announces}, ${w.scrapes}, ${w.failures})`;
}

/** `n` and its noun, singular for exactly one as on the pages; the number ungrouped, for scripts. */
function count(n: number, singular: string, plural = singular + "s"): string {
  return `${n} ${nounFor(n, singular, plural)}`;
}

/** The text `hefur ctl status` prints for a status answer. */
export function statusText(s: StatusResult): string {
  const w = s.webtorrent;
  const files = s.whitelist
    ? ` (${count(s.whitelist.files, ".torrent file")}, ` +
      `${count(s.whitelist.hashes, "hash", "hashes")})`
    : "";
  const lines = [
    `hefur ${s.version} (pid ${s.pid}), up ${duration(s.uptime)} since ${s.startedAt}`,
    `mode:      ${s.mode === "open" ? "open (any torrent)" : `whitelist ${s.torrentDir}`}`,
    `torrents:  ${s.torrents}${files}`,
    `peers:     ${s.peers} (${count(s.seeders, "seeder")}, ${count(s.leechers, "leecher")}), ` +
    `${s.completed} completed`,
    `browsers:  ${w.peers} (${count(w.seeders, "seeder")}, ${count(w.leechers, "leecher")}), ` +
    `${w.completed} completed, counted above`,
    `requests:  ${count(s.requests.announces, "announce")}, ` +
    `${count(s.requests.scrapes, "scrape")}, ${s.requests.refused} refused` +
    webtorrentRequests(s.requests.webtorrent),
  ];
  if (s.store) {
    lines.push(
      `store:     ${s.store.name} ${s.store.state}${s.store.detail ? ` (${s.store.detail})` : ""}`,
    );
  }
  for (const [name, figures] of Object.entries(s.listeners)) {
    lines.push(
      `${(name + ":").padEnd(10)} ${
        Object.entries(figures).map(([k, v]) => `${k} ${v}`).join(", ")
      }`,
    );
  }
  if (s.logFile) lines.push(`log file:  ${s.logFile}`);
  return lines.join("\n");
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return d > 0
    ? `${d}d ${h}h ${m}m`
    : h > 0
    ? `${h}h ${m}m ${s}s`
    : m > 0
    ? `${m}m ${s}s`
    : `${s}s`;
}

async function execute(steps: Step[], opts: CtlOptions): Promise<number> {
  const socket = opts.socket === undefined ? defaultSocketPathHere() : callerPath(opts.socket);
  const timeoutMs = Math.round(opts.timeout * 1000);
  const report = (step: Step, ok: boolean, body: Record<string, unknown>, text: string) => {
    if (opts.json) {
      out(JSON.stringify({ cmd: step.cmd, subject: step.subject, ok, ...body }));
    } else if (ok) out(text);
    else err(`hefur ctl: ${step.cmd}${step.subject ? ` ${step.subject}` : ""}: ${text}`);
  };
  let failed = false;
  const remote = steps.filter((s) => {
    if (s.localError === undefined) return true;
    report(s, false, { code: "local", error: s.localError }, s.localError);
    failed = true;
    return false;
  });
  if (remote.length === 0) return CTL_EXIT.failed;
  let client: ControlClient;
  try {
    client = await ControlClient.connect(socket, timeoutMs);
  } catch (e) {
    if (!(e instanceof ControlUnreachableError)) throw e;
    if (opts.json) out(JSON.stringify({ ok: false, code: "unreachable", error: e.message }));
    else err(`hefur ctl: cannot reach the server: ${explainSandbox(e.message)}`);
    return CTL_EXIT.unreachable;
  }
  try {
    for (const step of remote) {
      try {
        const result = await client.request(step.cmd, step.args, timeoutMs);
        let text: string;
        try {
          text = step.show(result);
        } catch {
          // Valid JSON, but not what this command answers: not a Hefur speaking this protocol.
          const error = `the answer from ${socket} is not what ${step.cmd} returns ` +
            `(is a Hefur of the same version listening there?)`;
          report(step, false, { code: "bad_answer", error }, error);
          return CTL_EXIT.unreachable;
        }
        report(step, true, { result }, text);
      } catch (e) {
        if (e instanceof ControlError) {
          report(step, false, { code: e.code, error: e.message }, e.message);
          failed = true;
        } else if (e instanceof ControlNoAnswerError) {
          // The error's message starts with the command, which the report names already.
          const text = e.message.replace(new RegExp(`^${step.cmd}: `), "");
          report(step, false, { code: "no_answer", error: e.message }, text);
          return CTL_EXIT.unreachable;
        } else throw e;
      }
    }
  } finally {
    client.close();
  }
  return failed ? CTL_EXIT.failed : CTL_EXIT.ok;
}

/** `hefur ctl`'s options, which the original spells with one dash (`-socket PATH`). */
const CTL_OPTIONS = new Set(["socket", "json", "timeout", "help"]);
/** Options that take the next argument as their value. */
const CTL_VALUED = new Set(["socket", "timeout"]);
/** The original's action flags, in the order it runs them. */
const ORIGINAL_ACTIONS = ["release-logs", "quit"];

/**
 * Reads the original `hefurctl`'s spelling: single-dash options (`-socket PATH`, `-json=…`) become
 * `--` ones, and its action flags `-release-logs` and `-quit` (before any command) become the
 * commands of the same name, run in the original's order. `actions` is empty when none was given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeCtlArgs } from "./ctl.ts";
 * assert.deepEqual(normalizeCtlArgs(["-socket", "/run/c", "-quit", "-release-logs"]), {
 *   args: ["--socket", "/run/c"],
 *   actions: ["release-logs", "quit"],
 *   command: false,
 * });
 * ```
 */
export function normalizeCtlArgs(
  argv: readonly string[],
): { args: string[]; actions: string[]; command: boolean } {
  const args: string[] = [];
  const flags = new Set<string>();
  let command = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--?([a-z][a-z-]*)(=.*)?$/.exec(arg);
    if (!command && m !== null && CTL_OPTIONS.has(m[1])) {
      args.push(`--${m[1]}${m[2] ?? ""}`);
      if (CTL_VALUED.has(m[1]) && m[2] === undefined && i + 1 < argv.length) args.push(argv[++i]);
    } else if (
      !command && m !== null && arg.startsWith("-") && !arg.startsWith("--") &&
      ORIGINAL_ACTIONS.includes(m[1]) && m[2] === undefined
    ) {
      flags.add(m[1]);
    } else {
      if (!arg.startsWith("-")) command = true;
      args.push(arg);
    }
  }
  return { args, actions: ORIGINAL_ACTIONS.filter((a) => flags.has(a)), command };
}

/** Runs `hefur ctl` with `args`; resolves with the exit code (see {@link CTL_EXIT}). */
export async function ctl(argv: string[]): Promise<number> {
  const { args, actions, command } = normalizeCtlArgs(argv);
  if (actions.length === 0) return await ctlCommandLine(args);
  if (command) {
    err(
      `hefur ctl: -${actions.join(", -")} (the original's spelling) cannot go with a command
` +
        "See 'hefur ctl --help'.",
    );
    return CTL_EXIT.usage;
  }
  // As the original: each action in turn, stopping at the first that fails.
  for (const action of actions) {
    const code = await ctlCommandLine([...args, action]);
    if (code !== CTL_EXIT.ok) return code;
  }
  return CTL_EXIT.ok;
}

/** Runs one `hefur ctl` command line (options then one command). */
async function ctlCommandLine(args: string[]): Promise<number> {
  let pending: Promise<number> | undefined;
  const program = ctlCommand((steps, opts) => {
    pending = execute(steps, opts);
  });
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return CTL_EXIT.ok; // --help
      if (e.code === "commander.help") {
        // No command given: the help, as an error.
        Deno.stderr.writeSync(encoder.encode(program.helpInformation()));
        return CTL_EXIT.usage;
      }
      err(`hefur ctl: ${e.message.replace(/^error: /, "")}\nSee 'hefur ctl --help'.`);
      return CTL_EXIT.usage;
    }
    throw e;
  }
  if (pending === undefined) {
    err("hefur ctl: missing command\nSee 'hefur ctl --help'.");
    return CTL_EXIT.usage;
  }
  return await pending;
}
