/**
 * The HTTPS listener's key material: PEM certificate chain and private key, read and checked at
 * start so that a wrong path or a broken file stops Hefur with a clear message instead of
 * leaving HTTPS silently off.
 *
 * @module
 */
import { readFileSafelySync } from "../sandbox/safe_files.ts";

/** Key material that cannot be used; `path` names the file at fault. */
export class TlsConfigError extends Error {
  override name = "TlsConfigError";
  constructor(message: string, readonly path: string) {
    super(message);
  }
}

/** A certificate chain and its private key, PEM text. */
export interface TlsKeyPair {
  cert: string;
  key: string;
}

/** Largest PEM file accepted: a long chain is a few KiB; anything far larger is a wrong file. */
const MAX_PEM_BYTES = 1 << 20;

function readPem(path: string, what: string, label: RegExp): string {
  let text: string;
  try {
    // By its real path, never into one the sandbox denies (a key is a secret: see safe_files.ts).
    text = new TextDecoder().decode(readFileSafelySync(path, MAX_PEM_BYTES));
  } catch (e) {
    throw new TlsConfigError(`cannot read the ${what} ${path}: ${(e as Error).message}`, path);
  }
  if (!label.test(text)) {
    throw new TlsConfigError(`${path} does not contain a PEM ${what}`, path);
  }
  return text;
}

/** Reads `--http-cert` and `--http-key`; throws {@link TlsConfigError} naming the bad file. */
export function readKeyPair(certPath: string, keyPath: string): TlsKeyPair {
  return {
    cert: readPem(certPath, "certificate", /-----BEGIN CERTIFICATE-----/),
    key: readPem(keyPath, "private key", /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/),
  };
}

/**
 * Opens a TLS listener with the key pair. A key that does not parse or does not match the
 * certificate is reported as a {@link TlsConfigError} too.
 */
export function listenTls(
  hostname: string,
  port: number,
  pair: TlsKeyPair,
  paths: { cert: string; key: string },
  reusePort = false,
): Deno.TlsListener {
  try {
    return Deno.listenTls({ hostname, port, cert: pair.cert, key: pair.key, reusePort });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.PermissionDenied) throw e;
    throw new TlsConfigError(
      `cannot use ${paths.cert} with ${paths.key}: ${(e as Error).message}`,
      paths.cert,
    );
  }
}

/**
 * Opens the HTTPS listener so that a renewed certificate can take over later without a gap: with
 * `SO_REUSEPORT`, a second listener with the new certificate binds the same port before the first
 * closes (see `cert_reload.ts`). `SO_REUSEPORT` would also let a second Hefur of the same user
 * share the port silently, so the port is first bound plainly once: taken is then an error, as
 * without reuse.
 */
export function listenTlsReusable(
  hostname: string,
  port: number,
  pair: TlsKeyPair,
  paths: { cert: string; key: string },
): Deno.TlsListener {
  if (port !== 0) Deno.listen({ hostname, port }).close();
  return listenTls(hostname, port, pair, paths, true);
}
