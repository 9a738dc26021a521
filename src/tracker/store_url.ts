/**
 * The `--store` value: `memory`, or the URL of a Redis (or Valkey) server that several Hefur
 * instances share. Pure: parsing and redaction only.
 *
 * A URL may carry a password; {@link redactStoreUrl} is the one way a URL is turned into text for
 * logs, pages and error messages, so credentials never leave the process.
 *
 * @module
 */

/** Where the swarms live. */
export type StoreSpec =
  | { kind: "memory" }
  | {
    kind: "redis";
    /** The URL as given (with its credentials): only for the client. */
    url: string;
    /** The URL without credentials, safe to print. */
    name: string;
    /** Database number (the `/db` path), 0 when not given. */
    db: number;
    tls: boolean;
  };

/** A `--store` value that is neither `memory` nor a usable Redis URL. Never holds credentials. */
export class StoreUrlError extends Error {
  override name = "StoreUrlError";
  /** The offending value, redacted. */
  readonly value: string;

  constructor(message: string, value: string) {
    super(message);
    this.value = value;
  }
}

/**
 * The text with everything between `//` (or the start, without a scheme) and the last `@` (the
 * user and password) replaced by `***`. Done on the text, not on a parsed URL, so that a password with unescaped `#`, `/` or `@`
 * cannot fool the parser into keeping part of it.
 *
 * @example
 * ```ts
 * import { redactStoreUrl } from "./store_url.ts";
 * redactStoreUrl("redis://hefur:s3cret@db:6379/2"); // "redis://***@db:6379/2"
 * ```
 */
export function redactStoreUrl(text: string): string {
  return text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^]*@/, "$1***@");
}

/**
 * Reads a `--store` value.
 *
 * @example
 * ```ts
 * import { parseStoreSpec } from "./store_url.ts";
 * parseStoreSpec("redis://127.0.0.1:6379/1"); // { kind: "redis", db: 1, tls: false, … }
 * ```
 */
export function parseStoreSpec(value: string): StoreSpec {
  const text = value.trim();
  if (text === "memory") return { kind: "memory" };
  const name = redactStoreUrl(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new StoreUrlError(
      `"${name}" is neither memory nor a URL like redis://[user:password@]host:port[/db]`,
      name,
    );
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new StoreUrlError(
      `"${name}": the store is memory, redis://… or rediss://… (not ${url.protocol}//)`,
      name,
    );
  }
  if (url.hostname === "") throw new StoreUrlError(`"${name}" names no host`, name);
  const path = url.pathname.replace(/^\//, "");
  if (path !== "" && !/^[0-9]{1,5}$/.test(path)) {
    throw new StoreUrlError(`"${name}": the path is a database number, not "${path}"`, name);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new StoreUrlError(`"${name}": a store URL takes no query or fragment`, name);
  }
  return {
    kind: "redis",
    url: text,
    name: redactStoreUrl(text),
    db: path === "" ? 0 : Number(path),
    tls: url.protocol === "rediss:",
  };
}
