/**
 * Certificate reload: the HTTPS listener picks up a renewed certificate and key (from an ACME
 * client such as certbot, which swaps files or symbolic links) without a restart.
 *
 * Deno fixes a TLS listener's certificate when it opens, and has no SNI or certificate callback.
 * So a renewal opens a *second* listener on the same address and port with the new key pair
 * (both are bound with `SO_REUSEPORT`, see `listenTlsReusable`), hands it to the server, then
 * closes the old one: new connections get the new certificate, open ones are not touched, and the
 * port is never unbound. A new pair that cannot be used (unreadable, not PEM, a key that does not
 * match the certificate) is refused before anything changes: the old certificate stays and the
 * log says why. An ACME client writes the certificate and the key one after the other, so a
 * mismatch seen in between is retried when the second file lands.
 *
 * Changes are noticed by `Deno.watchFs` on the files' directories (debounced), and by polling
 * the files' size, modification time and inode as a fallback where watching is not possible.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { dirname, resolve } from "node:path";
import { getLogger } from "../log/mod.ts";
import type { HttpServer } from "./http_server.ts";
import { listenTls, readKeyPair, TlsConfigError, type TlsKeyPair } from "./tls.ts";

const log = getLogger("http");

/** Settings of a {@link CertificateReloader}. */
export interface CertReloadOptions {
  certPath: string;
  keyPath: string;
  /** The address the HTTPS listener is bound to. */
  hostname: string;
  /** Milliseconds between two polls of the files. */
  pollMs: number;
  /** Milliseconds to wait after a file event before checking, so both files can land. */
  debounceMs: number;
}

/** Defaults: a poll a minute (watching does the quick work), a short debounce. */
export const DEFAULT_CERT_RELOAD = { pollMs: 60_000, debounceMs: 300 };

/** What the reloader has done since start, for metrics and tests. */
export interface CertReloadCounters {
  /** New key pairs put in service. */
  reloads: number;
  /** New files that were refused (the old certificate stayed). */
  failures: number;
}

/** When a PEM certificate chain's first certificate expires (ms since the epoch), if readable. */
export function certificateExpiry(pem: string): number | undefined {
  try {
    return Date.parse(new X509Certificate(pem).validTo);
  } catch {
    return undefined;
  }
}

/** Watches the HTTPS key pair and swaps the listener's certificate when it changes. */
export class CertificateReloader {
  readonly options: CertReloadOptions;
  readonly counters: CertReloadCounters = { reloads: 0, failures: 0 };
  /** Why the last new pair was refused, while it still is. */
  lastError: string | undefined;
  /** Expiry of the certificate in service (ms since the epoch). */
  expiresAt: number | undefined;
  readonly #server: HttpServer;
  #signature: string;
  #watcher: Deno.FsWatcher | undefined;
  #watching: Promise<void> | undefined;
  #poller: ReturnType<typeof setInterval> | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** `server` is the HTTPS server, already listening with `pair` (read from the options' paths). */
  constructor(server: HttpServer, pair: TlsKeyPair, options: CertReloadOptions) {
    this.#server = server;
    this.options = options;
    this.#signature = this.#signatureNow();
    this.expiresAt = certificateExpiry(pair.cert);
  }

  /** Starts watching and polling. */
  start(): void {
    const { certPath, keyPath } = this.options;
    const dirs = [...new Set([dirname(resolve(certPath)), dirname(resolve(keyPath))])];
    try {
      this.#watcher = Deno.watchFs(dirs, { recursive: false });
      const watcher = this.#watcher;
      this.#watching = (async () => {
        try {
          for await (const _ of watcher) this.#soon();
        } catch { /* closed, or the directory went away: polling goes on */ }
      })();
    } catch (e) {
      log.info("cannot watch {dirs} ({error}): the certificate is polled every {s} s", {
        dirs: dirs.join(", "),
        error: (e as Error).message,
        s: Math.round(this.options.pollMs / 1000),
      });
    }
    this.#poller = setInterval(() => this.check(), this.options.pollMs);
  }

  /**
   * Loads the key pair if the files changed since the last attempt, and puts it in service if it
   * is usable. Synchronous (two small files): checks never overlap.
   */
  check(): void {
    if (!this.#closed) this.#check();
  }

  /** Stops watching and polling. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poller);
    clearTimeout(this.#debounce);
    try {
      this.#watcher?.close();
    } catch { /* already closed */ }
    await this.#watching;
  }

  #soon(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => this.check(), this.options.debounceMs);
  }

  #check(): void {
    const signature = this.#signatureNow();
    if (signature === this.#signature) return;
    this.#signature = signature; // one attempt per version of the files
    const { certPath, keyPath, hostname } = this.options;
    let next: Deno.TlsListener;
    let pair: TlsKeyPair;
    try {
      pair = readKeyPair(certPath, keyPath);
      next = listenTls(
        hostname,
        this.#server.addr.port,
        pair,
        { cert: certPath, key: keyPath },
        true,
      );
    } catch (e) {
      // A TlsConfigError names the file at fault; anything else (the port taken by another
      // program meanwhile) is as much a reason to keep the listener in service.
      const message = e instanceof TlsConfigError ? e.message : `${certPath}: ${String(e)}`;
      this.counters.failures++;
      this.lastError = message;
      log.warning("renewed certificate not used, keeping the one in service: {error}", {
        error: message,
      });
      return;
    }
    this.#server.replaceListener(next);
    this.counters.reloads++;
    this.lastError = undefined;
    this.expiresAt = certificateExpiry(pair.cert);
    log.info("HTTPS certificate reloaded from {cert}{until}", {
      cert: certPath,
      until: this.expiresAt === undefined
        ? ""
        : ` (valid until ${new Date(this.expiresAt).toISOString()})`,
    });
  }

  /** Size, modification time and inode of both files (after symbolic links); "" parts if gone. */
  #signatureNow(): string {
    const part = (path: string) => {
      try {
        const s = Deno.statSync(path);
        return `${s.size}:${s.mtime?.getTime()}:${s.ino}`;
      } catch {
        return "-";
      }
    };
    return `${part(this.options.certPath)}|${part(this.options.keyPath)}`;
  }
}
