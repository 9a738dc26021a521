/**
 * Two revisions of Hefur under the same load, in turn, to tell whether a change made a request
 * cheaper. On a shared machine one run of `deno task bench` moves by more than most changes gain;
 * this alternates fresh processes of each revision, several measurements each, and prints the
 * median and range of CPU time per request of both, and their ratio.
 *
 * Usage: `deno run -A bench/compare.ts [--rounds=N] [--runs=N] [--mode=M] [--numwant=N] A B`
 *
 * - `A`, `B`: git revisions of this repository (`main`, `HEAD~1`, a commit), checked out into
 *   temporary worktrees; `.` for the working tree as it is; `echo` for the bare Deno UDP echo loop.
 * - `--mode`: `udp-announce` (default), `udp-scrape` or `http-close` (see bench/loadgen.c).
 * - `--rounds`: processes started per revision (default 4); `--runs`: measurements of 2 s per
 *   process (default 3), after the swarms are filled.
 *
 * Same traffic, cores and flags as `deno task bench`. Needs git, gcc and taskset.
 *
 * @module
 */
import {
  buildLoadgen,
  type LoadOptions,
  runLoad,
  startHefur,
  startUdpEcho,
  type TrackerProcess,
} from "./load.ts";
import { SANDBOX_FLAGS, V8_FLAGS } from "../build.ts";

function flag(name: string, fallback: string): string {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a?.slice(name.length + 3) ?? fallback;
}

const revisions = Deno.args.filter((a) => !a.startsWith("--"));
if (revisions.length !== 2) {
  console.error("usage: deno run -A bench/compare.ts [--rounds=N] [--runs=N] [--mode=M] A B");
  Deno.exit(2);
}
const ROUNDS = Number(flag("rounds", "4"));
const RUNS = Number(flag("runs", "3"));
const MODE = flag("mode", "udp-announce") as LoadOptions["mode"];
const NUMWANT = Number(flag("numwant", "50"));
const CORES = { tracker: "0", generator: "1" };
const TRAFFIC = { torrents: 1000, peers: 100_000 };
const ROOT = new URL("..", import.meta.url).pathname;

function git(...args: string[]): string {
  const r = new Deno.Command("git", { args: ["-C", ROOT, ...args] }).outputSync();
  if (!r.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  return new TextDecoder().decode(r.stdout).trim();
}

/** Where each revision's sources are: a worktree per git revision, made here. */
const dir = await Deno.makeTempDir({ prefix: "hefur-compare-" });
const sources = new Map<string, string>();
for (const [i, rev] of revisions.entries()) {
  if (rev === "echo") continue;
  if (rev === ".") {
    sources.set(rev, ROOT);
    continue;
  }
  const path = `${dir}/${i}`;
  git("worktree", "add", "--detach", path, git("rev-parse", "--verify", `${rev}^{commit}`));
  sources.set(rev, path);
}

async function start(rev: string): Promise<TrackerProcess> {
  if (rev === "echo") return await startUdpEcho(CORES.tracker);
  const root = sources.get(rev)!.replace(/\/$/, "");
  const v8 = V8_FLAGS.map((f) => f.replace(/^--v8-flags=/, ""));
  return await startHefur(CORES.tracker, v8, `${root}/src/main.ts`, rev, [
    ...SANDBOX_FLAGS,
    "--config",
    `${root}/deno.json`,
  ]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const loadgen = await buildLoadgen(dir);
  const cpu = new Map<string, number[]>(revisions.map((r) => [r, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so that a drift of the machine falls on both.
    const order = round % 2 === 0 ? revisions : [...revisions].reverse();
    for (const rev of order) {
      const t = await start(rev);
      try {
        const port = MODE.startsWith("udp") ? t.udpPort : t.httpPort;
        const base = { mode: MODE, port, conc: 64, numwant: NUMWANT, ...TRAFFIC };
        if (rev !== "echo") {
          await runLoad(loadgen, CORES, t, {
            ...base,
            warmup: 0,
            duration: 120,
            fill: true,
            numwant: 0,
          });
        }
        for (let run = 0; run < RUNS; run++) {
          const r = await runLoad(loadgen, CORES, t, { ...base, warmup: 0.5, duration: 2 });
          cpu.get(rev)!.push(r.trackerCpu * 1e6 / Math.max(r.rate, 1));
        }
      } finally {
        await t.stop();
      }
    }
    console.log(
      `round ${round + 1}: ` +
        revisions.map((r) => `${r} ${median(cpu.get(r)!).toFixed(2)} µs`).join(", "),
    );
  }
  console.log(`\n${MODE}, µs of tracker CPU per request, ${ROUNDS} × ${RUNS} runs each:`);
  for (const rev of revisions) {
    const xs = cpu.get(rev)!;
    console.log(
      `  ${rev.padEnd(12)} median ${median(xs).toFixed(2)}  range ` +
        `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`,
    );
  }
  const [a, b] = revisions.map((r) => median(cpu.get(r)!));
  console.log(`  ${revisions[1]} ÷ ${revisions[0]}: ${(b / a).toFixed(3)} (below 1: cheaper)`);
} finally {
  for (const path of sources.values()) {
    if (path !== ROOT) git("worktree", "remove", "--force", path);
  }
  await Deno.remove(dir, { recursive: true });
}
