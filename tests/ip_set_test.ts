import { strict as assert } from "node:assert/strict";
import { IpSet, IpSetError } from "../src/protocol/ip_set.ts";
import { Cidrs } from "../src/protocol/ip.ts";

Deno.test("IpSet: IPv4 and IPv6 networks, bare addresses, edges of each range", () => {
  const set = new IpSet(["10.0.0.0/8", "192.0.2.7", "198.51.100.128/25", "2001:db8::/32", "::1"]);
  for (
    const ip of ["10.0.0.0", "10.255.255.255", "192.0.2.7", "198.51.100.128", "198.51.100.255"]
  ) {
    assert.equal(set.has(ip), true, ip);
  }
  for (const ip of ["9.255.255.255", "11.0.0.0", "192.0.2.6", "192.0.2.8", "198.51.100.127"]) {
    assert.equal(set.has(ip), false, ip);
  }
  assert.equal(set.has("2001:db8::"), true);
  assert.equal(set.has("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), true);
  assert.equal(set.has("2001:db9::"), false);
  assert.equal(set.has("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), false);
  assert.equal(set.has("::1"), true);
  assert.equal(set.has("::2"), false);
  assert.equal(set.has("0.0.0.1"), false, "IPv4 and IPv6 never mix");
  assert.equal(new IpSet().empty, true);
  assert.equal(new IpSet().has("10.0.0.1"), false);
});

Deno.test("IpSet: overlapping and nested networks merge; /0 covers a family", () => {
  const set = new IpSet(["10.0.0.0/16", "10.0.128.0/17", "10.0.255.0/24", "10.1.0.0/16"]);
  assert.equal(set.size, 1, "10.0/16 and 10.1/16 are adjacent: one range");
  assert.equal(set.has("10.1.255.255"), true);
  assert.equal(set.has("10.2.0.0"), false);
  const all4 = new IpSet(["0.0.0.0/0"]);
  assert.equal(all4.has("255.255.255.255"), true);
  assert.equal(all4.has("::1"), false);
  const six = new IpSet(["2001:db8::/48", "2001:db8::/32", "2001:db8:1::/48"]);
  assert.equal(six.size, 1);
  assert.equal(six.has("2001:db8:ffff::1"), true);
});

Deno.test("IpSet: an IPv4-mapped network is an IPv4 network", () => {
  const set = new IpSet(["::ffff:10.0.0.0/104"]);
  assert.equal(set.has("10.20.30.40"), true);
  assert.equal(set.has("11.0.0.0"), false);
});

Deno.test("IpSet agrees with Cidrs on random addresses and networks", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  const v4 = () => `${rand() & 255}.${rand() & 255}.${rand() & 255}.${rand() & 255}`;
  // Networks given by any of their addresses (host bits set), as people write them.
  const nets = Array.from({ length: 200 }, () => `${v4()}/${8 + (rand() % 25)}`);
  const fast = new IpSet(nets);
  const slow = new Cidrs(nets);
  for (let i = 0; i < 5000; i++) {
    const ip = v4();
    assert.equal(fast.has(ip), slow.has(ip), ip);
  }
});

Deno.test("IpSet: anything that is not a network names itself", () => {
  for (const bad of ["example.org", "10.0.0.0/33", "1.2.3", "2001:db8::/129", "", "10.0.0.1/x"]) {
    assert.throws(() => new IpSet([bad]), (e) => e instanceof IpSetError && e.entry === bad, bad);
  }
});
