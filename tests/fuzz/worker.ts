/**
 * The fuzz worker: runs the cases of each target it is given and posts the reports. It bumps a
 * heartbeat in shared memory before each case, for the watchdog of `runner.ts`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { caseSeed, Rng } from "./prng.ts";
import { loadCorpus, TARGETS } from "./targets.ts";
import type { FuzzFailure, TargetReport, WorkerJob } from "./runner.ts";

/** Findings kept per target: after a few, more of the same tell nothing new. */
const MAX_FAILURES = 5;

self.onmessage = async (e: MessageEvent<WorkerJob>) => {
  const job = e.data;
  const slots = new Int32Array(job.progress);
  const corpus = await loadCorpus();
  const reports: TargetReport[] = [];
  for (let t = 0; t < job.targets.length; t++) {
    const name = job.targets[t];
    const target = TARGETS[name];
    Atomics.store(slots, 0, t);
    const failures: FuzzFailure[] = [];
    const start = performance.now();
    const stop = start + job.seconds * 1000;
    let cases = 0;
    let slowestMs = 0;
    for (let i = 0; i < job.cases && failures.length < MAX_FAILURES; i++) {
      if ((i & 63) === 0 && performance.now() > stop) break;
      Atomics.store(slots, 1, i);
      Atomics.add(slots, 2, 1);
      const seed = caseSeed(job.seed, name, i);
      const t0 = performance.now();
      let c: unknown;
      try {
        c = target.generate(new Rng(seed), corpus);
        target.check(c);
      } catch (err) {
        failures.push({
          target: name,
          index: i,
          caseSeed: seed,
          message: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
          input: c === undefined ? "(the generator failed)" : target.show(c),
        });
      }
      const ms = performance.now() - t0;
      if (ms > slowestMs) slowestMs = ms;
      if (ms > job.slowMs) {
        failures.push({
          target: name,
          index: i,
          caseSeed: seed,
          message: `slow: the case took ${ms.toFixed(0)} ms (bound ${job.slowMs} ms)`,
          input: target.show(c),
        });
      }
      cases++;
    }
    reports.push({ target: name, cases, ms: performance.now() - start, slowestMs, failures });
  }
  self.postMessage({ reports });
};
