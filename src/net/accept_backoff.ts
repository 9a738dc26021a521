/**
 * What an accept loop does when the process is out of file descriptors.
 *
 * `accept()` then fails at once (EMFILE, or ENFILE for the whole system) while the connection
 * stays queued, so a loop that simply tries again spins on a full core and serves nothing. Instead
 * the loop waits, 10 ms at first and twice as long each time up to 1 s, and starts over at 10 ms
 * once an accept succeeds. Each episode is logged once, as a warning when it starts and a note
 * when it ends, and every failed accept is counted for the metrics.
 *
 * @module
 */
import { getLogger, type Logger } from "../log/mod.ts";
import type { Origin } from "../log/levels.ts";

/** Failed accepts for lack of file descriptors, in every accept loop of the process. */
export const acceptErrors = { fdExhausted: 0 };

/** First wait after a failed accept, in milliseconds. */
export const FIRST_WAIT_MS = 10;
/** Longest wait between tries, in milliseconds. */
export const LONGEST_WAIT_MS = 1000;

/** True for the errors that mean "no file descriptor left" (EMFILE 24, ENFILE 23 on Linux). */
export function isFdExhaustion(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (code === "EMFILE" || code === "ENFILE") return true;
  return /too many open files|os error 2[34]\b/i.test(e.message);
}

/** The back-off of one accept loop. */
export class AcceptBackoff {
  readonly #name: string;
  readonly #log: Logger;
  readonly #openCount: () => number;
  #waitMs = FIRST_WAIT_MS;
  /** Failed accepts in the current episode; 0 when none is under way. */
  #failures = 0;

  /**
   * `name` says which listener in the log (`HTTP on 0.0.0.0:6969`), under `origin`;
   * `openCount` gives its open connections, logged with the warning.
   */
  constructor(origin: Origin, name: string, openCount: () => number) {
    this.#log = getLogger(origin);
    this.#name = name;
    this.#openCount = openCount;
  }

  /**
   * Called when an accept failed: for fd exhaustion, counts it, logs the start of an episode and
   * waits before the next try (resolves true); for any other error resolves false at once.
   */
  async failed(e: unknown): Promise<boolean> {
    if (!isFdExhaustion(e)) return false;
    acceptErrors.fdExhausted++;
    if (this.#failures++ === 0) {
      this.#log.warning(
        "{listener}: out of file descriptors ({error}) with {open} connections open; " +
          "accepting more is paused and retried (raise the descriptor limit, e.g. systemd's " +
          "LimitNOFILE, or lower the connection limits)",
        { listener: this.#name, error: (e as Error).message, open: this.#openCount() },
      );
    }
    const wait = this.#waitMs;
    this.#waitMs = Math.min(wait * 2, LONGEST_WAIT_MS);
    await new Promise((resolve) => setTimeout(resolve, wait));
    return true;
  }

  /** Called when an accept succeeded: ends an episode (logged) and resets the wait. */
  succeeded(): void {
    if (this.#failures === 0) return;
    this.#log.info("{listener}: accepting again after {failures} failed accepts", {
      listener: this.#name,
      failures: this.#failures,
    });
    this.#failures = 0;
    this.#waitMs = FIRST_WAIT_MS;
  }
}
