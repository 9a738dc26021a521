/**
 * Fuzz inputs in bencode: random values, random token soup, `.torrent` files of every version,
 * and byte-level mutations of any of them.
 *
 * Nothing here imports `src/`: the generators write bencode with their own small writer, so a bug
 * in the encoder under test cannot hide the same bug in the decoder under test.
 *
 * @module
 */
import type { Rng } from "./prng.ts";
import { concatBytes } from "../../src/protocol/binary.ts";

/** What {@linkcode benc} writes: integers (as numbers or decimal text), byte strings, lists, dicts. */
export type Tree =
  | number
  | { int: string }
  | string
  | Uint8Array
  | Tree[]
  | { dict: [string, Tree][] };

const latin1 = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/**
 * Writes a tree as bencode. Strings are binary strings (one char per byte); dict entries are
 * written in the order given (sorted or not: the generator decides); `{int: "…"}` writes the text
 * between `i` and `e` as it is, so non-canonical integers can be made on purpose.
 */
export function benc(t: Tree): Uint8Array {
  const out: number[] = [];
  const write = (v: Tree): void => {
    if (typeof v === "number") out.push(...latin1(`i${v}e`));
    else if (typeof v === "string") out.push(...latin1(`${v.length}:`), ...latin1(v));
    else if (v instanceof Uint8Array) out.push(...latin1(`${v.length}:`), ...v);
    else if (Array.isArray(v)) {
      out.push(0x6c);
      for (const x of v) write(x);
      out.push(0x65);
    } else if ("int" in v) out.push(...latin1(`i${v.int}e`));
    else {
      out.push(0x64);
      for (const [k, x] of v.dict) {
        write(k);
        write(x);
      }
      out.push(0x65);
    }
  };
  write(t);
  return Uint8Array.from(out);
}

/** A dict with its keys sorted bytewise, as a canonical encoder writes it. */
export function dict(entries: Record<string, Tree | undefined>): { dict: [string, Tree][] } {
  const list = Object.entries(entries).filter((e): e is [string, Tree] => e[1] !== undefined);
  list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { dict: list };
}

/** Integers that sit on an edge of the decoder's rules. */
const EDGE_INTS = [
  "0",
  "-0",
  "00",
  "01",
  "-01",
  "-",
  "",
  "9007199254740991",
  "-9007199254740991",
  "9007199254740992",
  "18446744073709551616",
  "99999999999999999999999999999",
  "1e3",
  "+1",
  " 1",
  "0x10",
];

/** A random bencode tree, at most `depth` levels of lists and dicts. */
export function randomTree(rng: Rng, depth: number): Tree {
  const kind = depth <= 0 ? rng.int(2) : rng.int(4);
  switch (kind) {
    case 0:
      if (rng.chance(0.1)) return { int: rng.pick(EDGE_INTS) };
      return rng.chance(0.5) ? rng.int(1000) : Math.floor((rng.float() - 0.5) * 2 ** rng.int(54));
    case 1:
      return rng.binary(rng.length(64));
    case 2:
      return Array.from({ length: rng.length(6) }, () => randomTree(rng, depth - 1));
    default: {
      const entries: [string, Tree][] = [];
      for (let n = rng.length(6); n > 0; n--) {
        entries.push([rng.binary(rng.length(8)), randomTree(rng, depth - 1)]);
      }
      // Mostly sorted (canonical), sometimes as they came (unsorted, maybe repeated keys).
      if (rng.chance(0.8)) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return { dict: entries };
    }
  }
}

/** Bytes that look like bencode: its tokens in random order. */
export function tokenSoup(rng: Rng, maxTokens: number): Uint8Array {
  const parts: string[] = [];
  for (let n = rng.length(maxTokens); n > 0; n--) {
    switch (rng.int(8)) {
      case 0:
        parts.push("l");
        break;
      case 1:
        parts.push("d");
        break;
      case 2:
        parts.push("e");
        break;
      case 3:
        parts.push(`i${rng.pick(EDGE_INTS)}e`);
        break;
      case 4:
        parts.push(`i${rng.int(100)}e`);
        break;
      case 5: {
        const s = rng.binary(rng.length(12));
        parts.push(`${rng.chance(0.8) ? s.length : rng.pick(EDGE_INTS)}:${s}`);
        break;
      }
      case 6:
        parts.push(rng.pick([":", "i", "-", "0", "9", "x", "\x00"]));
        break;
      default:
        parts.push(rng.pick(["4:info", "6:pieces", "4:name", "6:length", "5:files"]));
    }
  }
  return Uint8Array.from(latin1(parts.join("")));
}

// ---- .torrent files ----

/** A name: mostly plain, sometimes with path tricks, control characters or invalid UTF-8. */
function name(rng: Rng): string {
  return rng.pick([
    () => "file" + rng.int(1000),
    () => "..",
    () => "a/b",
    () => "",
    () => "\xff\xfe\xc3(",
    () => "\xe2\x82\xac uro",
    () => rng.binary(rng.length(40)),
    () => "x".repeat(rng.range(100, 3000)),
  ])();
}

/** A random info dict field value of a plausible type, or a wrong one now and then. */
function maybeWrong(rng: Rng, right: () => Tree): Tree {
  if (!rng.chance(0.05)) return right();
  return rng.pick<() => Tree>([
    () => rng.binary(5),
    () => rng.int(10) - 5,
    () => [],
    () => dict({}),
    () => ({ int: rng.pick(EDGE_INTS) }),
  ])();
}

function fileLength(rng: Rng): Tree {
  return maybeWrong(rng, () => rng.chance(0.1) ? 0 : rng.range(1, 2 ** 20));
}

/** One file of a generated torrent: the same list feeds the v1 `files` and the v2 `file tree`. */
interface GenFile {
  path: string[];
  length: Tree;
  padding: boolean;
}

function genFiles(rng: Rng): GenFile[] {
  return Array.from({ length: rng.range(rng.chance(0.05) ? 0 : 1, 6) }, (_, i) => ({
    // A unique first component mostly, so the v2 tree does not merge files by accident.
    path: [
      rng.chance(0.9) ? `d${i}` : name(rng),
      ...Array.from({ length: rng.int(3) }, () => name(rng)),
    ],
    length: fileLength(rng),
    padding: rng.chance(0.1),
  }));
}

function v1Files(rng: Rng, files: GenFile[]): Tree[] {
  return files.map((f) =>
    dict({
      length: f.length,
      path: maybeWrong(rng, () => f.path),
      attr: f.padding ? "p" : rng.chance(0.1) ? rng.pick(["x", ""]) : undefined,
    })
  );
}

/** The BEP 52 tree of `files`: nested dicts of components, a file being `{"": {…}}`. */
function fileTree(rng: Rng, files: GenFile[]): Tree {
  type Node = Map<string, Node | Tree>;
  const root: Node = new Map();
  for (const f of files) {
    let node = root;
    for (const c of f.path.slice(0, -1)) {
      let next = node.get(c);
      if (!(next instanceof Map)) node.set(c, next = new Map());
      node = next as Node;
    }
    node.set(
      f.path[f.path.length - 1],
      dict({
        "": dict({
          length: f.length,
          "pieces root": rng.chance(0.95) ? rng.binary(rng.chance(0.95) ? 32 : 31) : undefined,
          attr: f.padding ? "p" : undefined,
        }),
      }),
    );
  }
  const toTree = (n: Node): Tree => {
    const entries: Record<string, Tree> = {};
    for (const [k, v] of n) entries[k] = v instanceof Map ? toTree(v as Node) : v;
    return dict(entries);
  };
  return toTree(root);
}

/**
 * A `.torrent` of a random version (1, 2 or hybrid), mostly well formed, with random optional
 * fields; a field of the wrong type now and then.
 */
export function randomTorrent(rng: Rng): Uint8Array {
  const version = rng.pick([1, 2, "hybrid"] as const);
  const pieceLength = maybeWrong(
    rng,
    () => rng.chance(0.9) ? rng.pick([16384, 32768, 2 ** 22]) : rng.pick([0, -1]),
  );
  const files = genFiles(rng);
  const info: Record<string, Tree | undefined> = {
    name: maybeWrong(rng, () => name(rng)),
    "piece length": pieceLength,
    private: rng.chance(0.2) ? 1 : undefined,
  };
  if (version !== 2) {
    info.pieces = maybeWrong(rng, () => rng.binary(20 * rng.int(4) + (rng.chance(0.05) ? 1 : 0)));
    if (version === 1 && files.length === 1 && rng.chance(0.5)) info.length = files[0].length;
    else info.files = v1Files(rng, files);
  }
  if (version !== 1) {
    info["meta version"] = maybeWrong(rng, () => rng.chance(0.95) ? 2 : 3);
    info["file tree"] = fileTree(rng, files);
    if (rng.chance(0.5)) info["piece layers"] = dict({});
  }
  const root: Record<string, Tree | undefined> = {
    info: dict(info),
    announce: rng.chance(0.7) ? "http://tracker.example/announce" : undefined,
    "announce-list": rng.chance(0.3)
      ? maybeWrong(rng, () => [["http://a.example/announce"], ["udp://b.example:6969", ""]])
      : undefined,
    "url-list": rng.chance(0.2)
      ? rng.pick<Tree>(["", "http://seed.example/", ["http://s.example/", ""], 5])
      : undefined,
    comment: rng.chance(0.3) ? name(rng) : undefined,
    "created by": rng.chance(0.3) ? "fuzz" : undefined,
    "creation date": rng.chance(0.3) ? maybeWrong(rng, () => rng.int(2 ** 31)) : undefined,
  };
  return benc(dict(root));
}

// ---- byte mutations ----

/** Snippets that push a decoder towards its edges when dropped into valid input. */
const SPLICES = [
  "i-0e",
  "i00e",
  "i9007199254740992e",
  "99999999999999999999:",
  "0:",
  "00:",
  "e",
  "ee",
  "de",
  "le",
  "d0:e",
  "4:info",
  "l".repeat(200),
  "d1:a".repeat(100),
  "\x00",
  "\xff",
];

/**
 * Changes `input` in one to four random ways: bit flips, random or meaningful bytes set,
 * inserted, deleted or duplicated ranges, truncation, splicing from another input, numbers
 * replaced by edge values. Returns a new array; the input is not modified.
 */
export function mutateBytes(
  rng: Rng,
  input: Uint8Array,
  others: readonly Uint8Array[],
): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  for (let n = rng.range(1, 4); n > 0; n--) {
    const at = rng.int(b.length + 1);
    switch (rng.int(9)) {
      case 0:
        if (b.length > 0) b[at % b.length] ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length > 0) b[at % b.length] = rng.pick(latin1("ilde:-0123456789"));
        break;
      case 2:
        b = concat(b.subarray(0, at), rng.bytes(rng.length(8)), b.subarray(at));
        break;
      case 3: {
        const len = rng.length(Math.max(0, b.length - at));
        b = concat(b.subarray(0, at), b.subarray(at + len));
        break;
      }
      case 4: {
        const len = rng.length(Math.max(0, b.length - at));
        const dup = b.slice(at, at + len);
        b = concat(b.subarray(0, at), dup, dup, b.subarray(at + len));
        break;
      }
      case 5:
        b = b.slice(0, at);
        break;
      case 6: {
        if (others.length === 0) break;
        const o = rng.pick(others);
        const from = rng.int(o.length + 1);
        b = concat(b.subarray(0, at), o.subarray(from, from + rng.length(o.length - from)));
        break;
      }
      case 7:
        b = concat(b.subarray(0, at), Uint8Array.from(latin1(rng.pick(SPLICES))), b.subarray(at));
        break;
      default:
        b = replaceNumber(rng, b);
    }
  }
  return b;
}

/** Replaces one run of decimal digits (a length or an integer) with an edge value. */
function replaceNumber(rng: Rng, b: Uint8Array): Uint8Array {
  const runs: [number, number][] = [];
  for (let i = 0; i < b.length;) {
    if (b[i] >= 0x30 && b[i] <= 0x39) {
      const start = i;
      while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39) i++;
      runs.push([start, i]);
    } else i++;
  }
  if (runs.length === 0) return b;
  const [start, end] = rng.pick(runs);
  const value = rng.pick(EDGE_INTS.concat([String(end - start + 1), "1", "20", "32"]));
  return concat(b.subarray(0, start), Uint8Array.from(latin1(value)), b.subarray(end));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}
