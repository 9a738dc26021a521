/**
 * What `tests/fixtures/sandbox_probe.ts` should find inside Hefur's sandbox, by check name: one
 * list for the sandbox test (from source) and the release smoke test (an executable or the
 * sources with the executable's flags), so the two cannot drift apart.
 *
 * @module
 */

/** What Hefur needs: allowed. */
export const PROBE_ALLOWED: readonly string[] = [
  "read scratch file",
  "write scratch file",
  "listen tcp 127.0.0.1",
  "read /etc/passwd",
];

/**
 * The limit of deny lists that docs/security.md states: code that makes its own links gets
 * through them (Hefur's own opens resolve links). Allowed on Linux, where the files exist.
 */
export const PROBE_THROUGH_LINKS: readonly string[] = [
  "read /etc/shadow through a link",
  "write /etc/passwd through a link",
];

/**
 * Code loaded at run time: refused. From source the refusal is the sandbox's own; an executable
 * has no module loader for code it does not carry, so there it fails another way.
 */
export const PROBE_IMPORTS: readonly string[] = [
  "import remote module",
  "import npm package outside deno.lock",
];

/** Everything else the sandbox refuses. */
export const PROBE_REFUSED: readonly string[] = [
  "run a program",
  "load a native library (FFI)",
  "read /etc/shadow",
  "read /etc/ssh",
  "read /root/.ssh",
  "read /proc/self/environ",
  "read /proc/1/cmdline",
  "write /etc/passwd",
  "write /usr/local/bin",
  "write /root/.ssh/authorized_keys",
  "env HOME",
  "env PATH",
  "all env",
  "sys hostname",
  "sys network interfaces",
  "fetch cloud metadata",
  "connect cloud metadata",
];
