/**
 * Instructions and cache misses per UDP announce, counted by valgrind (callgrind) instead of timed.
 *
 * On a shared machine a timed benchmark moves by 10 to 40% from one run to the next, more than most
 * changes gain. Counts hardly move: the same code gives the same figures on a busy machine as on a
 * quiet one, within a few percent (V8 does not always optimize at the same moment), so a change
 * that saves 10% shows as 10%. This is how the announce path was trimmed; the timed benchmarks then
 * confirm the gain under real load.
 *
 * It runs the steady state of `udp_handle_bench.ts` (the same traffic, the same server) under
 * callgrind with counting off while the swarms fill, turns counting on (`callgrind_control`) for
 * `--announces` announces, and prints per announce:
 *
 * - instructions executed: Hefur's code, V8's builtins and runtime, and the benchmark's own loop
 *   (about 1,500: copying each datagram into the receive buffer, as Deno does);
 * - first-level data cache misses (32 KiB) and last-level misses with a last level of 2 MiB, which
 *   stands for one core's L2: under load the kernel's network path takes much of the rest. Misses
 *   are simulated, so they count lines a cache of that size would not hold, not time.
 *
 * Run: `deno run -A bench/instructions.ts [--announces=N]` (default 20,000; about a minute). It
 * measures the tree it is in: to compare two revisions, run it in a worktree of each. Needs
 * valgrind (Debian package `valgrind`).
 *
 * @module
 */
import { benchServer, PACKETS, steadyState } from "./udp_traffic.ts";

const announces = Number(
  Deno.args.find((a) => a.startsWith("--announces="))?.slice(12) ?? 20_000,
);
const SYNC = "HEFUR_BENCH_SYNC";

/** Waits for `path` to appear; fails if the process it waits on `ended` first. */
async function waitFor(path: string, ended?: () => boolean): Promise<void> {
  for (;;) {
    try {
      Deno.statSync(path);
      return;
    } catch {
      // Not there yet.
    }
    if (ended?.()) throw new Error("the measured process ended early");
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** The measured process: fills the swarms, then announces when told to, between two files. */
async function measured(dir: string): Promise<void> {
  const server = benchServer();
  const { random, handle } = steadyState(server);
  let sink = 0;
  // Enough announces in the steady state for V8 to optimize the code before counting starts.
  for (let n = 0; n < 20_000; n++) sink ^= handle(random[(n * 7) & (PACKETS - 1)]);
  Deno.writeTextFileSync(`${dir}/ready`, "");
  await waitFor(`${dir}/go`);
  for (let n = 0; n < announces; n++) sink ^= handle(random[n & (PACKETS - 1)]);
  Deno.writeTextFileSync(`${dir}/done`, "");
  await waitFor(`${dir}/exit`);
  if (sink === 0.5) console.log(server.counters);
}

async function run(command: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** Starts the measured process under callgrind and reads its counts. */
async function driver(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hefur-instructions-" });
  const root = new URL("..", import.meta.url).pathname;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("valgrind", {
      args: [
        "--tool=callgrind",
        "--instr-atstart=no",
        "--cache-sim=yes",
        "--LL=2097152,16,64",
        `--callgrind-out-file=${dir}/callgrind.out`,
        Deno.execPath(),
        "run",
        "-A",
        "--config",
        `${root}deno.json`,
        // One thread for V8: the same optimizations at the same points, run after run.
        "--v8-flags=--single-threaded,--max-semi-space-size=2",
        new URL(import.meta.url).pathname,
        `--announces=${announces}`,
      ],
      env: { [SYNC]: dir },
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      console.error("valgrind not found: install the Debian package valgrind");
      Deno.exit(2);
    }
    throw e;
  }
  let ended = false;
  const status = child.status.then((s) => {
    ended = true;
    return s;
  });
  const stderr = new Response(child.stderr).text();
  try {
    await waitFor(`${dir}/ready`, () => ended);
    await run("callgrind_control", ["-i", "on", String(child.pid)]);
    Deno.writeTextFileSync(`${dir}/go`, "");
    await waitFor(`${dir}/done`, () => ended);
    await run("callgrind_control", ["-i", "off", String(child.pid)]);
    Deno.writeTextFileSync(`${dir}/exit`, "");
    if (!(await status).success) throw new Error(await stderr);
    const text = Deno.readTextFileSync(`${dir}/callgrind.out`);
    const events = text.match(/^events: (.*)$/m)?.[1].split(" ") ?? [];
    const totals = text.match(/^totals: (.*)$/m)?.[1].split(" ").map(Number) ?? [];
    const per = (name: string) => (totals[events.indexOf(name)] ?? NaN) / announces;
    console.log(
      `per UDP announce (${announces.toLocaleString("en")} counted): ` +
        `${Math.round(per("Ir")).toLocaleString("en")} instructions, ` +
        `${(per("D1mr") + per("D1mw")).toFixed(1)} L1 data misses, ` +
        `${(per("DLmr") + per("DLmw")).toFixed(1)} misses of a 2 MiB last level`,
    );
  } catch (e) {
    if (!ended) child.kill();
    console.error(await stderr);
    throw e;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const dir = Deno.env.get(SYNC);
if (dir === undefined) await driver();
else await measured(dir);
