// IP address text: the canonical form every address is kept in.
import assert from "node:assert/strict";
import { canonicalIp, Cidrs } from "../src/protocol/ip.ts";

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
