// The command line: the options table, both dash styles, strict values, help and version.
import assert from "node:assert/strict";
import { normalizeDashes, parseServeArgs, serveHelp, UsageError } from "../src/cli/args.ts";
import { OPTIONS } from "../src/cli/options.ts";
import { optionsMarkdown } from "../src/cli/options_doc.ts";
import { explainSandbox, isSandboxRefusal } from "../src/cli/sandbox_message.ts";
import { explainUncaughtRefusal } from "../src/main.ts";
import { runHefur } from "./process_helpers.ts";

Deno.test("defaults are those of hefurd", () => {
  const c = parseServeArgs([]);
  assert.equal(c.announceInterval, 15);
  assert.equal(c.httpPort, 6969);
  assert.equal(c.udpPort, 6969);
  assert.equal(c.httpsPort, 6970);
  assert.equal(c.httpTimeout, 2000);
  assert.equal(c.maxPeers, 1024);
  assert.equal(c.minNumwant, 50);
  assert.equal(c.maxNumwant, 100);
  assert.equal(c.scanInterval, 60);
  assert.equal(c.maxScanDepth, 64);
  assert.equal(c.maxScanInodes, 131072);
  assert.equal(c.reverseProxyHeader, "X-Real-IP");
  assert.equal(c.allowProxy, false);
  assert.deepEqual(c.reverseProxyFrom, []);
});

Deno.test("both --name and the original -name forms are accepted", () => {
  const c = parseServeArgs(["-announce-interval", "5", "--max-peers=10", "-allow-proxy", "--ipv6"]);
  assert.equal(c.announceInterval, 5);
  assert.equal(c.maxPeers, 10);
  assert.equal(c.allowProxy, true);
  assert.equal(c.ipv6, true);
  assert.deepEqual(normalizeDashes(["-h", "-x", "-http-port", "-5"]), [
    "-h",
    "-x",
    "--http-port",
    "-5",
  ]);
});

Deno.test("repeatable list options collect every value", () => {
  const c = parseServeArgs([
    "--reverse-proxy-from",
    "10.0.0.1,10.0.0.2",
    "--reverse-proxy-from",
    "::1",
  ]);
  assert.deepEqual(c.reverseProxyFrom, ["10.0.0.1", "10.0.0.2", "::1"]);
});

Deno.test("bad values, unknown options and unavailable options fail clearly", () => {
  const fails = (args: string[], message: RegExp) =>
    assert.throws(() => parseServeArgs(args), (e: Error) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, message);
      return true;
    });
  fails(["--announce-interval", "15min"], /"15min" is not a whole number/);
  fails(["--http-port", "70000"], /70000 is outside 0–65535/);
  fails(["--no-such-option"], /unknown option '--no-such-option'/);
  fails(["--min-numwant", "200"], /must not be larger than --max-numwant/);
  fails(["--chroot", "/srv"], /Deno cannot chroot/);
  fails(["stray"], /too many arguments|unexpected/i);
});

Deno.test("--reverse-proxy-from: networks for everyone, a bare wildcard refused", () => {
  assert.deepEqual(
    parseServeArgs(["--reverse-proxy-from", "0.0.0.0/0,::/0"]).reverseProxyFrom,
    ["0.0.0.0/0", "::/0"],
  );
  for (const [entry, hint] of [["0.0.0.0", "0.0.0.0/0"], ["::", "::/0"], ["0:0::0", "::/0"]]) {
    assert.throws(
      () => parseServeArgs(["-reverse-proxy-from", entry]),
      (e: Error) =>
        e instanceof UsageError && e.message.includes(`--reverse-proxy-from ${entry}:`) &&
        e.message.includes(`write ${hint}`),
      entry,
    );
  }
  assert.throws(
    () => parseServeArgs(["--reverse-proxy-from", "proxy.example"]),
    /--reverse-proxy-from: not an IP address or CIDR network: "proxy.example"/,
  );
});

Deno.test("--help lists every option, grouped", () => {
  const help = serveHelp();
  for (const o of OPTIONS) assert.ok(help.includes(`--${o.name}`), `--${o.name} missing from help`);
  for (const g of ["Tracker:", "Network:", "HTTP:", "Whitelist:", "Log:"]) {
    assert.ok(help.includes(g));
  }
});

Deno.test("hefur --version and hefur serve --help run as commands", async () => {
  const v = await runHefur(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^hefur \d+\.\d+\.\d+/);
  const h = await runHefur(["serve", "--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--torrent-dir/);
  const bad = await runHefur(["serve", "--http-port", "x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /not a whole number/);
});

Deno.test("help texts name the command as typed and speak to any user, not the original's", async () => {
  const help = serveHelp();
  assert.match(help, /^Usage: hefur serve \[options\]/);
  assert.doesNotMatch(help, /\bnew:/, "what is new is said once, in docs/options.md");
  for (const sub of ["status", "release-torrent", "quit"]) {
    const out = await runHefur(["ctl", sub, "--help"]);
    assert.equal(out.code, 0);
    assert.match(out.stdout, new RegExp(`^Usage: hefur ctl ${sub}`));
  }
  // docs/options.md marks the options the original lacks, from the same table.
  const md = optionsMarkdown();
  const row = (name: string) => md.split("\n").find((l) => l.startsWith(`| \`--${name}`))!;
  assert.match(row("max-torrents"), /\| new \|/);
  assert.match(row("http-port"), /\| {2}\|/);
  assert.doesNotMatch(md, /\| new: /);
});

Deno.test("--tpl-debug is refused, and documented as refused", () => {
  assert.throws(() => parseServeArgs(["--tpl-debug"]), /--tpl-debug: .*not mimosa templates/);
  const md = optionsMarkdown();
  const row = md.split("\n").find((l) => l.startsWith("| `--tpl-debug"))!;
  assert.match(row, /refused/);
  assert.doesNotMatch(row, /accepted/);
});

Deno.test("Deno's refusal is rewritten as Hefur's sandbox's; other messages are left alone", () => {
  assert.equal(
    explainSandbox(
      'cannot read x: Requires read access to "/etc/shadow", run again with the --allow-read flag',
    ),
    "cannot read x: Hefur's sandbox does not allow read access to /etc/shadow " +
      "(it denies system and secret paths; see docs/security.md)",
  );
  assert.equal(
    explainSandbox("No such file or directory (os error 2)"),
    "No such file or directory (os error 2)",
  );
  assert.ok(isSandboxRefusal(new Deno.errors.NotCapable("x")));
  assert.ok(!isSandboxRefusal(new Deno.errors.PermissionDenied("Permission denied (os error 13)")));
});

Deno.test("a sandbox refusal nobody caught is still explained before Deno's report", () => {
  const printed: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => printed.push(args.join(" "));
  try {
    const refusal = new Deno.errors.NotCapable(
      'Requires write access to "/usr/x", run again with the --allow-write flag',
    );
    explainUncaughtRefusal(
      new PromiseRejectionEvent("unhandledrejection", {
        promise: Promise.resolve(),
        reason: refusal,
      }),
    );
    explainUncaughtRefusal(new ErrorEvent("error", { error: new Error("something else") }));
  } finally {
    console.error = original;
  }
  assert.deepEqual(printed, [
    "hefur: Hefur's sandbox does not allow write access to /usr/x " +
    "(it denies system and secret paths; see docs/security.md)",
  ]);
});
