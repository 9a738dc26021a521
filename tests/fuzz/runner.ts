/**
 * Runs fuzz targets in a worker, with a watchdog: a parser caught in an endless loop cannot be
 * interrupted from inside its own thread, so the worker publishes the case it is on in shared
 * memory and the main thread terminates it when a case runs past the hang bound, reporting that
 * case's seed.
 *
 * @module
 */
import { caseSeed } from "./prng.ts";

/** How a run is bounded; both `cases` and `seconds` apply (whichever ends first), per target. */
export interface FuzzOptions {
  /** Target names, run one after the other. */
  targets: string[];
  /** Most cases per target. */
  cases: number;
  /** Most seconds per target. */
  seconds: number;
  /** The run's seed; case `i` of a target uses `caseSeed(seed, target, i)`. */
  seed: number;
  /** A case that takes longer than this is a finding (it completed, but too slowly). */
  slowMs: number;
  /** A case still running after this long is a hang: the worker is stopped. */
  hangMs: number;
}

/** One finding. */
export interface FuzzFailure {
  target: string;
  /** Index of the case in the run. */
  index: number;
  /** The case's own seed: `deno task fuzz --replay <target>:<seed>` runs it alone. */
  caseSeed: number;
  message: string;
  /** The input, readable (absent for a hang: the worker was stopped before it could say). */
  input?: string;
}

/** What one target did. */
export interface TargetReport {
  target: string;
  cases: number;
  ms: number;
  /** The slowest case, in milliseconds. */
  slowestMs: number;
  failures: FuzzFailure[];
}

/** Message from the worker when it is done. */
export interface WorkerResult {
  reports: TargetReport[];
}

/** Message to the worker. */
export interface WorkerJob extends FuzzOptions {
  /** Three Int32 slots: target index, case index, heartbeat (bumped at each case). */
  progress: SharedArrayBuffer;
}

/** Runs the targets; resolves with one report per target reached (a hang ends the run). */
export async function runFuzz(options: FuzzOptions): Promise<TargetReport[]> {
  const progress = new SharedArrayBuffer(12);
  const slots = new Int32Array(progress);
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
  const { promise, resolve, reject } = Promise.withResolvers<TargetReport[]>();
  worker.onmessage = (e: MessageEvent<WorkerResult>) => resolve(e.data.reports);
  worker.onerror = (e) => {
    e.preventDefault();
    reject(new Error(`fuzz worker failed: ${e.message}`));
  };
  let beat = -1;
  let since = performance.now();
  const watchdog = setInterval(() => {
    const now = performance.now();
    const b = Atomics.load(slots, 2);
    if (b !== beat) {
      beat = b;
      since = now;
      return;
    }
    if (beat < 0 || now - since < options.hangMs) return;
    const target = options.targets[Atomics.load(slots, 0)];
    const index = Atomics.load(slots, 1);
    resolve([{
      target,
      cases: index + 1,
      ms: 0,
      slowestMs: now - since,
      failures: [{
        target,
        index,
        caseSeed: caseSeed(options.seed, target, index),
        message: `hang: case still running after ${Math.round(now - since)} ms; worker stopped`,
      }],
    }]);
  }, 50);
  Atomics.store(slots, 2, -1);
  worker.postMessage({ ...options, progress } satisfies WorkerJob);
  try {
    return await promise;
  } finally {
    clearInterval(watchdog);
    worker.terminate();
  }
}
