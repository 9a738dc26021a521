/**
 * Dropping root privileges once the sockets are bound (`--uid`, `--gid`).
 *
 * Unlike the original (reference §13.2), which dropped before binding (so ports below 1024 were
 * out of reach), ignored `-gid` whenever `-uid` was given, kept supplementary groups and went on
 * as root when a call failed, Hefur:
 * - resolves `--uid` (a name gives its primary group too, unless `--gid` says otherwise) and
 *   `--gid` independently;
 * - clears supplementary groups, then sets the gid, then the uid, then checks all three took;
 * - treats any failure as fatal.
 *
 * `setgid`/`setuid` come from Deno's Node compatibility (`node:process`, permission
 * `--allow-sys=setgid,setuid`; glibc applies them to every thread). Deno offers no `setgroups`,
 * so clearing supplementary groups goes through libc with FFI, only when there are groups to
 * clear: a service started by systemd (`User=`) or an unprivileged user has none to clear and
 * needs no `--allow-ffi`. When groups would be kept and FFI is not allowed, the drop fails
 * rather than keep them.
 *
 * @module
 */
import process from "node:process";

/** Who to become. */
export interface Identity {
  uid?: number;
  gid?: number;
}

/** A `--uid`/`--gid` that cannot be resolved or applied; fatal. */
export class PrivilegeError extends Error {
  /** The user or group asked for, or the call that failed. */
  readonly value: string;

  constructor(message: string, value: string) {
    super(message);
    this.name = "PrivilegeError";
    this.value = value;
  }
}

/** Finds `name` (first field) in an `/etc/passwd` or `/etc/group` text; returns its fields. */
function lookup(db: string, name: string): string[] | undefined {
  for (const line of db.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields.length >= 4) return fields;
  }
  return undefined;
}

function numeric(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xfffffffe ? n : undefined;
}

/**
 * Resolves `--uid` and `--gid` (names or numbers, "" for none) against the texts of
 * `/etc/passwd` and `/etc/group`. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveIdentity } from "./privileges.ts";
 * const passwd = "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
 * const group = "nogroup:x:65534:\nwww:x:33:\n";
 * assert.deepEqual(resolveIdentity("nobody", "", passwd, group), { uid: 65534, gid: 65534 });
 * assert.deepEqual(resolveIdentity("nobody", "www", passwd, group), { uid: 65534, gid: 33 });
 * assert.deepEqual(resolveIdentity("1000", "", passwd, group), { uid: 1000 });
 * assert.deepEqual(resolveIdentity("", "33", passwd, group), { gid: 33 });
 * ```
 */
export function resolveIdentity(
  uidText: string,
  gidText: string,
  passwd: string,
  group: string,
): Identity {
  const id: Identity = {};
  if (uidText !== "") {
    const n = numeric(uidText);
    if (n !== undefined) id.uid = n;
    else {
      const entry = lookup(passwd, uidText);
      if (entry === undefined) throw new PrivilegeError(`--uid: no user "${uidText}"`, uidText);
      id.uid = Number(entry[2]);
      id.gid = Number(entry[3]);
    }
  }
  if (gidText !== "") {
    const n = numeric(gidText);
    if (n !== undefined) id.gid = n;
    else {
      const entry = lookup(group, gidText);
      if (entry === undefined) throw new PrivilegeError(`--gid: no group "${gidText}"`, gidText);
      id.gid = Number(entry[2]);
    }
  }
  return id;
}

/** Reads `/etc/passwd` and `/etc/group` only when a name needs them. */
export function resolveIdentityHere(uidText: string, gidText: string): Identity {
  const read = (path: string, needed: boolean) => {
    if (!needed) return "";
    try {
      return Deno.readTextFileSync(path);
    } catch (e) {
      throw new PrivilegeError(`cannot read ${path}: ${(e as Error).message}`, path);
    }
  };
  return resolveIdentity(
    uidText,
    gidText,
    read("/etc/passwd", uidText !== "" && numeric(uidText) === undefined),
    read("/etc/group", gidText !== "" && numeric(gidText) === undefined),
  );
}

/** Clears the supplementary groups with libc's setgroups(0, NULL), through FFI. */
function clearSupplementaryGroups(groups: number[]): void {
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    throw new PrivilegeError(
      `the process has supplementary groups (${groups.join(" ")}) that only setgroups() can ` +
        `clear, which Deno reaches through FFI: allow it (--allow-ffi) or start Hefur without ` +
        `supplementary groups (systemd's User= does)`,
      "setgroups",
    );
  }
  const libc = Deno.dlopen("libc.so.6", {
    setgroups: { parameters: ["usize", "pointer"], result: "i32" },
  });
  try {
    if (libc.symbols.setgroups(0n, null) !== 0) {
      throw new PrivilegeError("setgroups(0, NULL) failed (is the process root?)", "setgroups");
    }
  } finally {
    libc.close();
  }
}

/**
 * Becomes `id`: hands `paths` (sockets, log file) over to it, clears supplementary groups, sets
 * the gid, then the uid, and checks the result. Throws {@link PrivilegeError}; the caller must
 * stop, never go on with the old privileges.
 */
export function dropPrivileges(id: Identity, paths: readonly string[] = []): void {
  if (id.uid === undefined && id.gid === undefined) return;
  for (const path of paths) {
    try {
      Deno.chownSync(path, id.uid ?? null, id.gid ?? null);
    } catch (e) {
      throw new PrivilegeError(`cannot hand ${path} over: ${(e as Error).message}`, path);
    }
  }
  const call = (name: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      throw new PrivilegeError(`${name} failed: ${(e as Error).message}`, name);
    }
  };
  if (id.uid !== undefined) {
    // Supplementary groups would keep root's group access after the uid changes.
    const groups = process.getgroups!().filter((g) => g !== id.gid);
    if (groups.length > 0) clearSupplementaryGroups(groups);
  }
  if (id.gid !== undefined) call(`setgid(${id.gid})`, () => process.setgid!(id.gid!));
  if (id.uid !== undefined) call(`setuid(${id.uid})`, () => process.setuid!(id.uid!));
  const now = {
    uid: process.getuid!(),
    euid: process.geteuid!(),
    gid: process.getgid!(),
    egid: process.getegid!(),
  };
  if (
    (id.uid !== undefined && (now.uid !== id.uid || now.euid !== id.uid)) ||
    (id.gid !== undefined && (now.gid !== id.gid || now.egid !== id.gid))
  ) {
    throw new PrivilegeError(`privileges not dropped: now ${JSON.stringify(now)}`, "check");
  }
}
