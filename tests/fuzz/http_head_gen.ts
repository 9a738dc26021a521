/**
 * Fuzz inputs for the HTTP server's request-head parser: well-formed heads whose request line and
 * headers are known (so a parse can be checked field by field), with the server's own headers in
 * any case and spacing and sometimes repeated; and hostile ones: the same heads with bytes flipped,
 * inserted or cut, stray CR and LF, colons, spaces and bytes above 0x7f.
 *
 * A head is the bytes before the blank line, cut where the server would cut it (its first
 * CRLFCRLF), as the server hands it to the parser.
 *
 * @module
 */
import type { Rng } from "./prng.ts";
import { mutateBytes } from "./bencode_gen.ts";

/** A generated head and, when it was left clean, what it must parse to. */
export interface HeadCase {
  head: Uint8Array;
  /** Set when the head is well formed and unmutated. */
  intent?: {
    method: string;
    target: string;
    version: "1.0" | "1.1";
    /** Header names (lower case) with the first value sent, trimmed. */
    headers: Map<string, string>;
  };
}

const NAMES = [
  "Host",
  "Connection",
  "connection",
  "CONNECTION",
  "Upgrade",
  "upgrade",
  "Content-Length",
  "content-length",
  "Transfer-Encoding",
  "User-Agent",
  "X-Forwarded-For",
  "Accept-Encoding",
  "X",
];

const VALUES = [
  "close",
  "keep-alive",
  "Keep-Alive, Upgrade",
  "websocket",
  "0",
  "12",
  "chunked",
  "gzip, deflate",
  "127.0.0.1",
  "tracker.example.org:6969",
  "",
  "a:b:c",
];

function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** One request head, clean or mutated. */
export function randomHead(rng: Rng): HeadCase {
  const method = rng.pick(["GET", "GET", "GET", "HEAD", "POST", "OPTIONS", "PROPFIND"]);
  const target = rng.pick([
    "/announce?info_hash=%12%34&peer_id=-LT0001-abcdefghijkl&port=6881&left=0",
    "/scrape?info_hash=aaaaaaaaaaaaaaaaaaaa",
    "/stat",
    "/",
    "/file/x.torrent#frag",
    "*",
    "/a?b?c#d?e",
  ]);
  const version = rng.chance(0.8) ? "1.1" : "1.0";
  const lines = [`${method} ${target} HTTP/${version}`];
  const headers = new Map<string, string>();
  for (let n = rng.int(8); n > 0; n--) {
    const name = rng.pick(NAMES);
    const value = rng.pick(VALUES);
    // Optional white space around the value, as RFC 9112 allows.
    const before = rng.pick(["", " ", "  ", "\t"]);
    const after = rng.pick(["", "", " ", "\t "]);
    lines.push(`${name}:${before}${value}${after}`);
    const key = name.toLowerCase();
    if (!headers.has(key)) headers.set(key, value);
  }
  const head = latin1(lines.join("\r\n"));
  if (rng.chance(0.4)) return { head, intent: { method, target, version, headers } };
  let mutated = mutateBytes(rng, head, []);
  // Characters that matter to the grammar, more often than random bytes would give them.
  for (let n = rng.int(4); n > 0; n--) {
    const at = rng.int(mutated.length + 1);
    const insert = latin1(
      rng.pick(["\r\n", "\r", "\n", ":", " ", "\t", "\xe9", "\x00", "HTTP/1."]),
    );
    const next = new Uint8Array(mutated.length + insert.length);
    next.set(mutated.subarray(0, at));
    next.set(insert, at);
    next.set(mutated.subarray(at), at + insert.length);
    mutated = next;
  }
  return { head: cutAtBlankLine(mutated) };
}

/** The bytes before the first CRLFCRLF: what the server passes on as the head. */
function cutAtBlankLine(b: Uint8Array): Uint8Array {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) {
      return b.subarray(0, i);
    }
  }
  return b;
}
