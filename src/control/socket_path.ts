/**
 * Where the control socket lives, and a safe directory for it.
 *
 * The default works unprivileged and under a service manager, in this order:
 * 1. `$HEFUR_CONTROL_SOCKET`;
 * 2. `$RUNTIME_DIRECTORY/control` (systemd's `RuntimeDirectory=hefur`, created for the service's
 *    user);
 * 3. `/run/hefur/control` for root (the original's `/var/run/hefur/control`);
 * 4. `$XDG_RUNTIME_DIR/hefur/control` (a logged-in user's private runtime directory);
 * 5. `/tmp/hefur-<uid>/control`.
 *
 * `hefur ctl` computes the same default, so both ends agree when run by the same user.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { writablePathSync } from "../sandbox/safe_files.ts";

/**
 * The default control socket path for a process of user `uid` (null where unknown) seeing the
 * environment `env`. Pure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSocketPath } from "./socket_path.ts";
 * const env = (vars: Record<string, string>) => (name: string) => vars[name];
 * assert.equal(defaultSocketPath(env({ RUNTIME_DIRECTORY: "/run/hefur" }), 0), "/run/hefur/control");
 * assert.equal(defaultSocketPath(env({ XDG_RUNTIME_DIR: "/run/user/1000" }), 1000),
 *   "/run/user/1000/hefur/control");
 * assert.equal(defaultSocketPath(env({}), 1000), "/tmp/hefur-1000/control");
 * ```
 */
export function defaultSocketPath(
  env: (name: string) => string | undefined,
  uid: number | null,
): string {
  const explicit = env("HEFUR_CONTROL_SOCKET");
  if (explicit) return explicit;
  // systemd joins several runtime directories with ':'; the first is the service's own.
  const runtime = env("RUNTIME_DIRECTORY")?.split(":")[0];
  if (runtime) return join(runtime, "control");
  if (uid === 0) return "/run/hefur/control";
  const xdg = env("XDG_RUNTIME_DIR");
  if (xdg) return join(xdg, "hefur", "control");
  return `/tmp/hefur-${uid ?? "unknown"}/control`;
}

/**
 * The default for this process. Reads `HEFUR_CONTROL_SOCKET`, `RUNTIME_DIRECTORY` and
 * `XDG_RUNTIME_DIR` and the uid where the sandbox allows it (the permission set `hefur` does);
 * a variable it may not read counts as unset.
 */
export function defaultSocketPathHere(): string {
  const env = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  };
  return defaultSocketPath(env, currentUid());
}

/** This process's uid, or null where the sandbox does not tell. */
export function currentUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    return null;
  }
}

/** A socket directory Hefur refuses to use, with why. */
export class SocketDirError extends Error {
  /** The directory. */
  readonly path: string;

  constructor(message: string, path: string) {
    super(message);
    this.name = "SocketDirError";
    this.path = path;
  }
}

/**
 * Makes sure the socket's directory exists and that nobody else can swap the socket: created
 * with mode 0700 when missing; an existing one must be owned by this user or root, and not
 * writable by others unless sticky (like /tmp). Resolves with the directories it created
 * (outermost first), so a privilege drop can hand them over.
 */
export async function prepareSocketDir(socketPath: string): Promise<string[]> {
  // Refuses a path that leads, through a link above it, where the sandbox denies writing.
  writablePathSync(socketPath);
  const dir = dirname(socketPath);
  const created: string[] = [];
  for (let d = dir;; d = dirname(d)) {
    try {
      await Deno.lstat(d);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      created.unshift(d);
      if (dirname(d) === d) break;
    }
  }
  for (const d of created) {
    await Deno.mkdir(d, { mode: 0o700 });
    await Deno.chmod(d, 0o700); // mkdir's mode passes through the umask
  }
  const info = await Deno.lstat(dir);
  if (!info.isDirectory) throw new SocketDirError(`${dir} is not a directory`, dir);
  const uid = currentUid();
  if (info.uid !== null && uid !== null && info.uid !== uid && info.uid !== 0) {
    throw new SocketDirError(
      `${dir} belongs to user ${info.uid}, not to this user (${uid}): refusing to put the control socket there`,
      dir,
    );
  }
  const mode = info.mode ?? 0;
  if ((mode & 0o022) !== 0 && (mode & 0o1000) === 0) {
    throw new SocketDirError(
      `${dir} is writable by others (mode ${
        (mode & 0o7777).toString(8)
      }): anyone could replace the control socket`,
      dir,
    );
  }
  return created;
}
