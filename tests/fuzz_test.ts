// The fuzzer, bounded: a few thousand cases per parser on every test run, from a fixed seed so a
// failure here is the same failure everywhere. `deno task fuzz` runs longer with fresh seeds.
import assert from "node:assert/strict";
import { runFuzz } from "./fuzz/runner.ts";
import { TARGETS } from "./fuzz/targets.ts";

const CASES: Record<string, number> = {
  bencode: 4000,
  metainfo: 3000,
  udp: 5000,
  "http-query": 4000,
  "http-head": 4000,
  websocket: 3000,
  webtorrent: 4000,
};

for (const target of Object.keys(TARGETS)) {
  Deno.test(`fuzz: ${target} parses or fails in the documented way, never hangs`, async () => {
    const [report] = await runFuzz({
      targets: [target],
      cases: CASES[target],
      seconds: Infinity,
      seed: 0x48656675,
      // Generous: the test machine is shared; a real blow-up is orders of magnitude slower.
      slowMs: 2000,
      hangMs: 10_000,
    });
    const lines = report.failures.map((f) =>
      `case ${f.index}: ${f.message}\n  input: ${f.input}\n  ` +
      `replay: deno task fuzz --replay ${f.target}:${f.caseSeed}`
    );
    assert.equal(lines.length, 0, lines.join("\n"));
    assert.equal(report.cases, CASES[target], "every case ran");
  });
}
