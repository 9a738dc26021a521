/**
 * `deno task fuzz`: the long fuzz run, or the replay of one case.
 *
 * ```
 * deno task fuzz [--cases N] [--seconds S] [--seed N] [--target NAME]... [--slow-ms MS]
 * deno task fuzz --replay TARGET:CASESEED
 * ```
 *
 * Defaults: every target, 60 s or 1,000,000 cases each, a seed from the clock (printed, so the
 * run can be repeated). `FUZZ_CASES`, `FUZZ_SECONDS` and `FUZZ_SEED` set the same as the flags.
 * Exits 1 when anything was found, printing each finding with the command that replays it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Rng } from "./prng.ts";
import { loadCorpus, TARGETS } from "./targets.ts";
import { runFuzz } from "./runner.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    cases: { type: "string", default: Deno.env.get("FUZZ_CASES") ?? "1000000" },
    seconds: { type: "string", default: Deno.env.get("FUZZ_SECONDS") ?? "60" },
    seed: { type: "string", default: Deno.env.get("FUZZ_SEED") },
    target: { type: "string", multiple: true },
    "slow-ms": { type: "string", default: "1000" },
    replay: { type: "string" },
  },
});

if (values.replay !== undefined) {
  const [name, seedText] = values.replay.split(":");
  const target = TARGETS[name];
  if (target === undefined || !/^\d+$/.test(seedText ?? "")) {
    console.error(`--replay wants TARGET:CASESEED, TARGET one of ${Object.keys(TARGETS)}`);
    Deno.exit(2);
  }
  const c = target.generate(new Rng(Number(seedText)), await loadCorpus());
  console.log(`input: ${target.show(c)}`);
  target.check(c); // throws, with its stack, if the finding is still there
  console.log("no finding: the case passes");
  Deno.exit(0);
}

const targets = values.target ?? Object.keys(TARGETS);
for (const t of targets) {
  if (!(t in TARGETS)) {
    console.error(`unknown target ${t}; targets: ${Object.keys(TARGETS).join(", ")}`);
    Deno.exit(2);
  }
}
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : Date.now() >>> 0;
const cases = Number(values.cases);
const seconds = Number(values.seconds);
const slowMs = Number(values["slow-ms"]);
console.log(`fuzz: seed ${seed}, up to ${cases} cases or ${seconds} s per target`);

const reports = await runFuzz({ targets, cases, seconds, seed, slowMs, hangMs: slowMs * 10 });
let found = 0;
for (const r of reports) {
  const rate = r.ms > 0 ? ` (${Math.round(r.cases / (r.ms / 1000))}/s)` : "";
  console.log(
    `${r.target.padEnd(12)} ${String(r.cases).padStart(9)} cases in ${(r.ms / 1000).toFixed(1)} s` +
      `${rate}, slowest ${r.slowestMs.toFixed(1)} ms, ${r.failures.length} findings`,
  );
  for (const f of r.failures) {
    found++;
    console.log(`  ✗ case ${f.index}: ${f.message}`);
    if (f.input !== undefined) console.log(`    input: ${f.input.slice(0, 2000)}`);
    console.log(`    replay: deno task fuzz --replay ${f.target}:${f.caseSeed}`);
  }
}
Deno.exit(found === 0 ? 0 : 1);
