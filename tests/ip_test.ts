// IP address text: the canonical form every address is kept in.
import assert from "node:assert/strict";
import { canonicalIp, Cidrs, writeIp, writeIpv6 } from "../src/protocol/ip.ts";
import ipaddr from "ipaddr.js";

Deno.test("canonicalIp: dotted quads, RFC 5952 IPv6, v4-mapped undone", () => {
  assert.equal(canonicalIp("10.0.0.1"), "10.0.0.1");
  assert.equal(canonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  assert.equal(canonicalIp("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(canonicalIp("::"), "::");
});

Deno.test("canonicalIp: host names, ports, brackets, lists and short forms are refused", () => {
  for (
    const s of ["example.org", "1.2.3.4:80", "[::1]", "1.2.3.4,5.6.7.8", "10.0.0", "0x7f.0.0.1"]
  ) {
    assert.equal(canonicalIp(s), undefined, s);
  }
});

Deno.test("canonicalIp: IPv6 zone ids are refused (one address, one text form)", () => {
  // ipaddr.js accepts zones and kept them in the text: "fe80::1%eth0" and "fe80::1%eth1" were
  // two addresses. Found by the fuzzer (tests/fuzz, http-query target).
  for (const s of ["fe80::1%eth0", "::1%1", "::ffff:1.2.3.4%x", "fe80::1%25eth0"]) {
    assert.equal(canonicalIp(s), undefined, s);
  }
  assert.throws(() => new Cidrs(["fe80::1%eth0"]), RangeError);
});

Deno.test("canonicalIp is idempotent on what it returns", () => {
  for (const s of ["10.0.0.1", "2001:DB8::1", "::ffff:10.1.2.3", "::1", "fe80::abcd:0:0:1"]) {
    const c = canonicalIp(s)!;
    assert.equal(canonicalIp(c), c, s);
  }
});

/** A random IPv6 address written in one of the text forms RFC 4291 allows. */
function randomIpv6Text(random: () => number): { text: string; bytes: number[] } {
  const bytes = Array.from({ length: 16 }, () => (random() < 0.4 ? 0 : Math.floor(random() * 256)));
  const a = ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
  const forms = [
    () => a.toRFC5952String(),
    () => a.toNormalizedString(),
    () => a.toNormalizedString().split(":").map((g) => g.padStart(4, "0")).join(":"),
    () => a.toRFC5952String().toUpperCase(),
    // A dotted IPv4 tail, after the compressed or the full form of the first six groups.
    () => {
      const head = ipaddr.fromByteArray([...bytes.slice(0, 12), 0, 0, 0, 0]) as ipaddr.IPv6;
      const full = head.toNormalizedString().split(":").slice(0, 6).join(":");
      return `${full}:${bytes.slice(12).join(".")}`;
    },
  ];
  return { text: forms[Math.floor(random() * forms.length)](), bytes };
}

Deno.test("writeIpv6 reads every RFC 4291 text form as ipaddr.js does", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const out = new Uint8Array(20);
  for (let n = 0; n < 20_000; n++) {
    const { text, bytes } = randomIpv6Text(random);
    out.fill(0xee);
    assert.ok(writeIpv6(text, out, 2), text);
    assert.deepEqual([...out.subarray(2, 18)], bytes, text);
    assert.deepEqual([out[0], out[1], out[18], out[19]], [0xee, 0xee, 0xee, 0xee], text);
  }
  for (
    const text of ["::", "::1", "1::", "::ffff:1.2.3.4", "64:ff9b::192.0.2.33", "1:2:3:4:5:6:7::"]
  ) {
    assert.ok(writeIpv6(text, out, 0), text);
    assert.deepEqual([...out.subarray(0, 16)], ipaddr.IPv6.parse(text).toByteArray(), text);
  }
});

Deno.test("writeIpv6 refuses what is not IPv6, and mutations of what is", () => {
  const out = new Uint8Array(16);
  const refused = [
    "",
    ":",
    ":::",
    "1:2",
    ":1::2",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "1:",
    "g::1",
    "fe80::1%eth0",
    "::1.2.3",
    "::1.2.3.4.5",
    "::256.1.1.1",
    "::01.2.3.4",
    "1.2.3.4",
    "::1.2.3.4:5",
    "1:2:3:4:5:6:7:1.2.3.4",
    " ::1",
  ];
  for (const text of refused) assert.equal(writeIpv6(text, out, 0), false, JSON.stringify(text));
  // Random edits of valid addresses: whatever the fast parser accepts, ipaddr.js reads alike.
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = "0123456789abcdefABCDEF:.%x ";
  for (let n = 0; n < 20_000; n++) {
    const chars = [...randomIpv6Text(random).text];
    const at = Math.floor(random() * (chars.length + 1));
    const edit = Math.floor(random() * 3);
    const c = alphabet[Math.floor(random() * alphabet.length)];
    if (edit === 0) chars.splice(at, 0, c);
    else if (edit === 1) chars.splice(at, 1);
    else chars.splice(at, 1, c);
    const text = chars.join("");
    const ok = writeIpv6(text, out, 0);
    if (ok) assert.deepEqual([...out], ipaddr.IPv6.parse(text).toByteArray(), text);
    // Without a dotted tail or a zone, the two agree on what is valid, except that ipaddr.js also
    // takes what RFC 4291 does not allow: groups of more than four digits ("02000"), and a "::"
    // standing for no group at all (eight groups besides it).
    const eightAndGap = text.includes("::") && text.split(":").filter((g) => g !== "").length >= 8;
    if (!/[.%]/.test(text) && !/[0-9a-f]{5}/i.test(text) && !eightAndGap) {
      assert.equal(ok, ipaddr.IPv6.isValid(text), JSON.stringify(text));
    }
  }
});

Deno.test("writeIp: IPv4 into 4 bytes, IPv6 into 16, a clear error otherwise", () => {
  const out = new Uint8Array(16);
  assert.equal(writeIp("192.0.2.33", out, 0), 4);
  assert.deepEqual([...out.subarray(0, 4)], [192, 0, 2, 33]);
  assert.equal(writeIp("2001:db8::1", out, 0), 16);
  assert.deepEqual([...out], ipaddr.IPv6.parse("2001:db8::1").toByteArray());
  assert.throws(() => writeIp("2001:db8::1::2", out, 0), /not an IPv6 address: 2001:db8::1::2/);
});
