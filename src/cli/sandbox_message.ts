/**
 * What an operator reads when Hefur's permission sandbox refuses a path. Deno's own message says
 * "run again with the --allow-read flag", a flag of `deno run` that `hefur` does not have; this
 * says instead that it is Hefur's sandbox, which path, and where the docs explain it.
 *
 * @module
 */

import { SANDBOX_DOC } from "../sandbox/deny_lists.ts";

const DENO_REFUSAL = /Requires (\w+) access to "?([^",]*)"?, run again with the --allow-\w+ flag/;

/**
 * `message` with Deno's refusal (`Requires read access to "/etc/shadow", run again with the
 * --allow-read flag`) rewritten as Hefur's; other messages are returned as they are.
 */
export function explainSandbox(message: string): string {
  return message.replace(
    DENO_REFUSAL,
    (_, kind: string, path: string) =>
      `Hefur's sandbox does not allow ${kind} access to ${path} (it denies system and secret paths; see ${SANDBOX_DOC})`,
  );
}

/** Whether `e` is a refusal of Deno's permission sandbox. */
export function isSandboxRefusal(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable ||
    (e instanceof Error && DENO_REFUSAL.test(e.message));
}
