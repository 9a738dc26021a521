/**
 * Long work (a page render walking 100,000 torrents) cut into short slices, so the event loop
 * answers announces in between.
 *
 * The work calls {@link TimeSlices.due} as it goes (cheap: it reads the clock only every
 * {@link CHECK_EVERY} calls) and, when its slice is used up, awaits {@link TimeSlices.pause}.
 *
 * How the work gives the event loop back was measured on Deno 2.9: a `setTimeout(0)` lets
 * pending network I/O be served before it fires; a `MessageChannel` message or `setImmediate`
 * do not (a UDP socket went unanswered while work yielded that way). A timer costs about 2 ms of
 * idle wait, during which the loop serves whoever is waiting.
 *
 * Every piece of work waiting to go on is resumed by one shared timer, one per turn of the event
 * loop: were each to set its own timer, a Deno timer turn would run all that are due back to
 * back, and twenty renders under way would hold the loop as long as twenty slices.
 *
 * @module
 */

/** Milliseconds of work in one slice: what an announce may wait behind a render. */
export const SLICE_MS = 2;

/** Calls to {@link TimeSlices.due} between two readings of the clock, by default. */
export const CHECK_EVERY = 256;

/** The work waiting to go on, the first resumed next; a timer is set while it is not empty. */
const waiting: (() => void)[] = [];

function resumeNext(): void {
  waiting.shift()?.();
  if (waiting.length > 0) setTimeout(resumeNext, 0);
}

/**
 * Resolves once the event loop has had a turn to serve I/O and timers (see the module's notes on
 * why a timer).
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (waiting.length === 1) setTimeout(resumeNext, 0);
  });
}

/** The clock of one piece of work: tells when its slice is used up, and pauses it. */
export class TimeSlices {
  readonly #checkEvery: number;
  #calls = 0;
  #sliceStart = performance.now();

  /** `checkEvery`: calls to {@link due} between readings of the clock; fewer for costlier steps. */
  constructor(checkEvery: number = CHECK_EVERY) {
    this.#checkEvery = checkEvery;
  }

  /** True when the current slice has lasted {@link SLICE_MS}: time to `await pause()`. */
  due(): boolean {
    if (++this.#calls % this.#checkEvery !== 0) return false;
    return performance.now() - this.#sliceStart >= SLICE_MS;
  }

  /** Lets the event loop serve others, then starts a new slice. */
  async pause(): Promise<void> {
    await yieldToEventLoop();
    this.#sliceStart = performance.now();
  }
}
