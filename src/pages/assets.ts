/**
 * The files of `www/` (layout template, CSS, scripts, icons), read once at start into memory.
 *
 * The defaults ship inside the program: they are read relative to this module, which works under
 * `deno run` and in a binary built with `deno compile --include www`. `--www-dir` points to a
 * directory whose files take precedence, for users who restyle the pages. Reading everything at
 * start means a request never touches the disk, and a missing or broken asset is a start-up error.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { readablePathSync, readFileSafelySync } from "../sandbox/safe_files.ts";
import { Layout } from "./html.ts";

/** One file ready to serve. */
export interface Asset {
  bytes: Uint8Array;
  /** gzip of `bytes`, when it is text and compression pays. */
  gzip?: Uint8Array;
  contentType: string;
  /** Strong validator: a hash of the bytes, quoted. */
  etag: string;
}

/** A `www` directory that cannot be used; `path` names the file or directory at fault. */
export class AssetError extends Error {
  override name = "AssetError";
  constructor(message: string, readonly path: string) {
    super(`${path}: ${message}`);
  }
}

/** Bounds on what `--www-dir` may hold, so a wrong directory (`/`) fails fast instead of eating memory. */
export const ASSET_LIMITS = { maxFiles: 512, maxFileBytes: 4 << 20, maxDepth: 8 };

/** Slots of `tpl/page.html`. */
export const LAYOUT_SLOTS = ["title", "head", "nav", "content", "version", "uptime"] as const;

const TYPES: Record<string, string> = {
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  html: "text/html; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  gif: "image/gif",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
};

/** Content type of a file name, by extension; `application/octet-stream` when unknown. */
export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return (dot >= 0 ? TYPES[name.slice(dot + 1).toLowerCase()] : undefined) ??
    "application/octet-stream";
}

/** Directories whose files are served as they are; `tpl/` is read but never served. */
const SERVED_DIRS = ["css/", "js/", "img/"];

/** The embedded `www/` directory. */
export const EMBEDDED_WWW: URL = new URL("../../www/", import.meta.url);

/** Every page asset, in memory. */
export class Assets {
  readonly #files = new Map<string, Asset>();
  /** The page layout (`tpl/page.html`). */
  readonly layout: Layout;

  /**
   * Reads the embedded `www/`, then `wwwDir` over it when given. Throws {@link AssetError} when a
   * directory cannot be read, a bound is passed, or the layout is broken.
   */
  constructor(wwwDir?: string, embedded: URL | string = EMBEDDED_WWW) {
    const raw = new Map<string, Uint8Array>();
    readTree(embedded, raw);
    if (wwwDir !== undefined && wwwDir !== "") readTree(wwwDir, raw);
    const layout = raw.get("tpl/page.html");
    if (layout === undefined) throw new AssetError("missing tpl/page.html", String(embedded));
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(layout);
    } catch {
      throw new AssetError("not valid UTF-8", "tpl/page.html");
    }
    try {
      this.layout = new Layout(text, LAYOUT_SLOTS);
    } catch (e) {
      throw new AssetError((e as Error).message, "tpl/page.html");
    }
    for (const [path, bytes] of raw) {
      if (!SERVED_DIRS.some((d) => path.startsWith(d))) continue;
      const contentType = contentTypeOf(path);
      const etag = `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 22)}"`;
      const asset: Asset = { bytes, contentType, etag };
      if (isText(contentType) && bytes.length > 256) asset.gzip = gzipSync(bytes, { level: 9 });
      this.#files.set(path, asset);
    }
  }

  /**
   * The asset at a request path (`/css/hefur.css`; `/favicon.ico` is `img/favicon.ico`), or
   * undefined. Only files under `css/`, `js/` and `img/` are served; the path is looked up in
   * memory, so `..` can never reach the disk, and it is refused anyway.
   */
  get(requestPath: string): Asset | undefined {
    if (requestPath === "/favicon.ico") return this.#files.get("img/favicon.ico");
    let path: string;
    try {
      path = decodeURIComponent(requestPath.slice(1));
    } catch {
      return undefined;
    }
    if (path.split("/").some((c) => c === ".." || c === "." || c === "") || path.includes("\\")) {
      return undefined;
    }
    return this.#files.get(path);
  }

  /** Paths of the served files (for tests and diagnostics). */
  paths(): string[] {
    return [...this.#files.keys()].sort();
  }
}

function isText(type: string): boolean {
  return type.startsWith("text/") || type === "image/svg+xml" || type === "application/json";
}

/** Reads every regular file under `root` into `out`, keyed by its path relative to `root`. */
function readTree(root: URL | string, out: Map<string, Uint8Array>): void {
  let base = typeof root === "string" ? root.replace(/\/*$/, "/") : root;
  if (typeof base === "string") {
    // The directory where it really is, unless the sandbox denies reading it: its entries are
    // then read by their real paths (links below it are not followed at all).
    try {
      base = readablePathSync(base).replace(/\/*$/, "/");
    } catch (e) {
      throw new AssetError(`cannot read directory: ${(e as Error).message}`, base);
    }
  }
  const walk = (dir: string, depth: number): void => {
    if (depth > ASSET_LIMITS.maxDepth) {
      throw new AssetError(`deeper than ${ASSET_LIMITS.maxDepth} levels`, String(base) + dir);
    }
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(join(base, dir))];
    } catch (e) {
      throw new AssetError(`cannot read directory: ${(e as Error).message}`, String(base) + dir);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const rel = dir + entry.name;
      if (entry.isDirectory) {
        walk(rel + "/", depth + 1);
        continue;
      }
      if (!entry.isFile) continue; // symlinks and specials are not followed
      if (out.size >= ASSET_LIMITS.maxFiles && !out.has(rel)) {
        throw new AssetError(`more than ${ASSET_LIMITS.maxFiles} files`, String(base));
      }
      const where = join(base, rel);
      let bytes: Uint8Array;
      try {
        if (typeof where === "string") {
          bytes = readFileSafelySync(where, ASSET_LIMITS.maxFileBytes);
        } else {
          if (Deno.statSync(where).size > ASSET_LIMITS.maxFileBytes) {
            throw new Error(`larger than ${ASSET_LIMITS.maxFileBytes} bytes`);
          }
          bytes = Deno.readFileSync(where);
        }
      } catch (e) {
        throw new AssetError(`cannot read: ${(e as Error).message}`, String(base) + rel);
      }
      out.set(rel, bytes);
    }
  };
  walk("", 0);
}

function join(base: URL | string, rel: string): URL | string {
  return typeof base === "string" ? base + rel : new URL(rel, base);
}
