import assert from "node:assert/strict";
import {
  BencodeError,
  type BValue,
  decode,
  decodeWithSpans,
  encode,
} from "../src/protocol/bencode.ts";

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array): string => String.fromCharCode(...b);

/** Asserts that decoding `input` fails with a BencodeError at `offset` whose message matches. */
function assertRejects(input: string | Uint8Array, message: RegExp, offset?: number): void {
  const bytes = typeof input === "string" ? ascii(input) : input;
  assert.throws(() => decode(bytes), (e: unknown) => {
    assert.ok(e instanceof BencodeError, `expected BencodeError, got ${e}`);
    assert.match(e.message, message);
    if (offset !== undefined) assert.equal(e.offset, offset);
    return true;
  });
}

Deno.test("decode: byte-exact vectors", () => {
  assert.equal(decode(ascii("i0e")), 0);
  assert.equal(decode(ascii("i42e")), 42);
  assert.equal(decode(ascii("i-42e")), -42);
  assert.equal(decode(ascii("i9007199254740991e")), Number.MAX_SAFE_INTEGER);
  assert.equal(decode(ascii("i-9007199254740991e")), -Number.MAX_SAFE_INTEGER);
  assert.deepEqual(decode(ascii("0:")), new Uint8Array(0));
  assert.deepEqual(decode(ascii("4:spam")), ascii("spam"));
  assert.deepEqual(decode(ascii("le")), []);
  assert.deepEqual(decode(ascii("l4:spami7ee")), [ascii("spam"), 7]);
  assert.deepEqual(decode(ascii("de")), new Map());
  assert.deepEqual(
    decode(ascii("d3:cow3:moo4:spaml1:a1:bee")),
    new Map<string, BValue>([["cow", ascii("moo")], ["spam", [ascii("a"), ascii("b")]]]),
  );
});

Deno.test("decode: byte strings are views into the input, not copies", () => {
  const input = ascii("l3:abce");
  const [s] = decode(input) as Uint8Array[];
  assert.equal(s.buffer, input.buffer);
  assert.equal(s.byteOffset, 3);
});

Deno.test("decode: dict keys are binary strings, one char per byte", () => {
  const input = new Uint8Array([...ascii("d2:"), 0xff, 0x80, ...ascii("i1ee")]);
  const d = decode(input) as Map<string, BValue>;
  assert.deepEqual([...d.keys()], ["\xff\x80"]);
});

Deno.test("decode: unsorted dict keys are accepted and keep their order", () => {
  const d = decode(ascii("d1:bi1e1:ai2ee")) as Map<string, BValue>;
  assert.deepEqual([...d.entries()], [["b", 1], ["a", 2]]);
});

Deno.test("decode: rejects duplicate dict keys", () => {
  assertRejects("d1:ai1e1:ai2ee", /duplicate dict key "a"/, 7);
});

Deno.test("decode: rejects non-canonical integers", () => {
  assertRejects("i-0e", /negative zero/, 0);
  assertRejects("i03e", /leading zero/, 0);
  assertRejects("i-03e", /leading zero/, 0);
  assertRejects("i00e", /leading zero/, 0);
  assertRejects("ie", /no digits/, 0);
  assertRejects("i-e", /no digits/, 0);
  assertRejects("i+1e", /non-digit/, 1);
  assertRejects("i1.5e", /non-digit/, 2);
  assertRejects("i 1e", /non-digit/, 1);
});

Deno.test("decode: rejects integers outside the safe range", () => {
  assertRejects("i9007199254740992e", /safe range/, 0);
  assertRejects("i-9007199254740992e", /safe range/, 0);
  assertRejects(`i${"9".repeat(5000)}e`, /safe range/, 0);
});

Deno.test("decode: rejects huge declared string lengths without allocating", () => {
  assertRejects("99999999999:x", /longer than the rest/, 0);
  assertRejects(`${"9".repeat(100_000)}:x`, /longer than the rest/, 0);
  assertRejects("l6:abcde", /longer than the rest/, 1);
  assertRejects("5:abcd", /longer than the rest/, 0);
});

Deno.test("decode: rejects leading zeros and bad string lengths", () => {
  assertRejects("01:a", /leading zero/, 0);
  assertRejects("00:", /leading zero/, 0);
  assertRejects("3x:abc", /non-digit/, 1);
  assertRejects("-1:a", /unexpected byte 0x2d/, 0);
});

Deno.test("decode: rejects truncated input", () => {
  for (const input of ["", "i", "i12", "4", "4:sp", "l", "l4:spam", "d", "d3:cow", "d3:cow3:moo"]) {
    assertRejects(input, /unexpected end|longer than the rest/);
  }
  assertRejects("l4:spam", /unexpected end of input/, 7);
});

Deno.test("decode: rejects trailing bytes", () => {
  assertRejects("i1ei2e", /3 trailing bytes/, 3);
  assertRejects("dex", /1 trailing bytes/, 2);
  assertRejects("4:spam\n", /1 trailing bytes/, 6);
});

Deno.test("decode: rejects malformed structure", () => {
  assertRejects("e", /unexpected byte 0x65/, 0);
  assertRejects("x", /unexpected byte 0x78/, 0);
  assertRejects("di1ei2ee", /dict key is not a byte string/, 1);
  assertRejects("dlei1ee", /dict key is not a byte string/, 1);
  assertRejects("d1:ae", /dict key "a" has no value/, 4);
});

Deno.test("decode: deep nesting is refused, not a stack overflow", () => {
  const deep = new Uint8Array(100_000).fill(0x6c); // 100k "l"
  assertRejects(deep, /nesting deeper than 64/, 64);
  const deepDicts = ascii("d1:a".repeat(100_000));
  assertRejects(deepDicts, /nesting deeper than 64/);
});

Deno.test("decode: the depth limit is configurable and exact", () => {
  const nested = (n: number) => ascii("l".repeat(n) + "e".repeat(n));
  assert.deepEqual(decode(nested(3), { maxDepth: 3 }), [[[]]]);
  assert.throws(() => decode(nested(4), { maxDepth: 3 }), BencodeError);
  assert.doesNotThrow(() => decode(nested(64)));
  assert.throws(() => decode(nested(65)), /nesting deeper than 64/);
  assert.doesNotThrow(() => decode(nested(1000), { maxDepth: 1000 }));
});

Deno.test("decodeWithSpans: gives the raw span of each top-level dict value", () => {
  const input = ascii("d1:zi1e4:infod1:bi1e1:ai2ee1:al1:xee");
  const { value, spans } = decodeWithSpans(input);
  assert.ok(value instanceof Map);
  assert.equal(text(input.subarray(...spans.get("info")!)), "d1:bi1e1:ai2ee");
  assert.equal(text(input.subarray(...spans.get("z")!)), "i1e");
  assert.equal(text(input.subarray(...spans.get("a")!)), "l1:xe");
  assert.deepEqual([...spans.keys()], ["z", "info", "a"]);
});

Deno.test("decodeWithSpans: no spans when the root is not a dict", () => {
  assert.equal(decodeWithSpans(ascii("ld1:ai1eee")).spans.size, 0);
  assert.equal(decodeWithSpans(ascii("i1e")).spans.size, 0);
});

Deno.test("encode: byte-exact vectors", () => {
  assert.equal(text(encode(0)), "i0e");
  assert.equal(text(encode(-7)), "i-7e");
  assert.equal(text(encode(Number.MAX_SAFE_INTEGER)), "i9007199254740991e");
  assert.equal(text(encode("spam")), "4:spam");
  assert.equal(text(encode("é")), "2:\xc3\xa9"); // JS strings are written as UTF-8
  assert.equal(text(encode(new Uint8Array([0, 0xff]))), "2:\x00\xff");
  assert.equal(text(encode([])), "le");
  assert.equal(text(encode(["a", 1, []])), "l1:ai1elee");
  assert.equal(text(encode({})), "de");
  assert.equal(text(encode({ spam: ["a", "b"], cow: "moo" })), "d3:cow3:moo4:spaml1:a1:bee");
  assert.equal(
    text(encode(new Map([["b", 1], ["a", 2], ["\xff", 3], ["A", 4]]))),
    "d1:Ai4e1:ai2e1:bi1e1:\xffi3ee",
  );
  assert.equal(text(encode({ a: 1, b: undefined })), "d1:ai1ee");
});

Deno.test("encode: keys sort bytewise, shorter prefix first", () => {
  assert.equal(text(encode({ ab: 1, a: 2, b: 3, "": 4 })), "d0:i4e1:ai2e2:abi1e1:bi3ee");
});

Deno.test("encode: rejects what bencode cannot hold", () => {
  assert.throws(() => encode(1.5), /not a safe integer/);
  assert.throws(() => encode(NaN), /not a safe integer/);
  assert.throws(() => encode(2 ** 53), /not a safe integer/);
  assert.throws(() => encode(new Map([["€", 1]])), /above U\+00FF/);
  assert.throws(() => encode(null as never), /type null/);
  assert.throws(() => encode(true as never), /type boolean/);
  assert.throws(() => encode(new Date() as never), /type Date/);
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  assert.throws(() => encode(cyclic as never), /nesting deeper than 512/);
  for (const bad of [1.5, null, new Map([["€", 1]])]) {
    assert.throws(() => encode([bad as never]), BencodeError);
  }
});

Deno.test("encode(decode(x)) is x for canonical input", () => {
  for (
    const s of [
      "i0e",
      "i-1e",
      "0:",
      "le",
      "de",
      "d4:infod6:lengthi3e4:name1:a12:piece lengthi16384e6:pieces0:ee",
      "ll1:alee1:bd0:leee",
    ]
  ) {
    assert.equal(text(encode(decode(ascii(s)))), s);
  }
});

/** A small seeded PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(rand: () => number, depth: number): BValue {
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = () => Uint8Array.from({ length: int(12) }, () => int(256));
  const kind = depth >= 5 ? int(2) : int(4);
  switch (kind) {
    case 0: {
      const r = rand();
      if (r < 0.1) return rand() < 0.5 ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
      if (r < 0.2) return 0;
      return Math.floor((rand() - 0.5) * 2 ** (1 + int(53)));
    }
    case 1:
      return bytes();
    case 2:
      return Array.from({ length: int(5) }, () => randomValue(rand, depth + 1));
    default: {
      const m = new Map<string, BValue>();
      for (let i = int(5); i > 0; i--) {
        m.set(String.fromCharCode(...bytes()), randomValue(rand, depth + 1));
      }
      return m;
    }
  }
}

/** Sorts map entries by key, as a decoded canonical encoding has them. */
function canonical(v: BValue): BValue {
  if (Array.isArray(v)) return v.map(canonical);
  if (v instanceof Map) {
    return new Map(
      [...v].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

Deno.test("property: decode(encode(v)) equals v for random values", () => {
  const rand = prng(0x4865_6675);
  for (let i = 0; i < 500; i++) {
    const v = randomValue(rand, 0);
    const bytes = encode(v);
    const back = decode(bytes, { maxDepth: 8 });
    assert.deepStrictEqual(back, canonical(v), `case ${i}: ${text(bytes)}`);
    // Canonical output is stable: re-encoding gives the same bytes.
    assert.deepStrictEqual(encode(back), bytes, `case ${i}`);
  }
});

Deno.test("property: truncating a valid encoding is always rejected with BencodeError", () => {
  const rand = prng(7);
  for (let i = 0; i < 200; i++) {
    const bytes = encode(randomValue(rand, 0));
    const cut = Math.floor(rand() * bytes.length);
    assert.throws(() => decode(bytes.subarray(0, cut)), BencodeError, `case ${i}`);
  }
});
