/**
 * The paths the permission sandbox denies, read from the one place they are defined: the
 * permission set `hefur` in `deno.json` (the build compiles that same file into the executable).
 *
 * Deno checks the path a program gives it, not where a symbolic link leads. Hefur therefore asks
 * these lists itself about the real path of every configured file it opens (see ./safe_files.ts).
 *
 * @module
 */
import config from "../../deno.json" with { type: "json" };

/** Reading or writing. */
export type Access = "read" | "write";

/** Where the sandbox and its deny lists are explained to operators. */
export const SANDBOX_DOC = "docs/security.md";

/** The denied paths of the permission set, by access. Each covers itself and everything below. */
export const DENY_LISTS: Readonly<Record<Access, readonly string[]>> = {
  read: config.permissions.hefur.read.deny,
  write: config.permissions.hefur.write.deny,
};

/**
 * The deny-list entry that covers an absolute, normalised `path` for `access`, or undefined when
 * the sandbox allows it. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deniedBy } from "./deny_lists.ts";
 * assert.equal(deniedBy("/etc/shadow", "read"), "/etc/shadow");
 * assert.equal(deniedBy("/root/.gnupg/private-keys-v1.d/x.key", "read"), "/root/.gnupg");
 * assert.equal(deniedBy("/etc/shadow.torrent", "read"), undefined);
 * assert.equal(deniedBy("/etc/hefur.torrent", "write"), "/etc");
 * ```
 */
export function deniedBy(path: string, access: Access): string | undefined {
  for (const denied of DENY_LISTS[access]) {
    if (path === denied || path.startsWith(denied + "/")) return denied;
  }
  return undefined;
}
