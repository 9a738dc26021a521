// What each system lacks (src/platform.ts), as --help and the start-up warning say it.
import assert from "node:assert/strict";
import {
  platformHelp,
  platformNotes,
  platformWarning,
  supportOf,
  TARGET_TABLE,
} from "../src/platform.ts";
import { versionText } from "../src/version.ts";

Deno.test("Linux lacks nothing: no note in the help, no warning at start-up", () => {
  assert.equal(supportOf("linux"), "full");
  assert.deepEqual(platformNotes("linux"), []);
  assert.equal(platformHelp("linux"), "");
  assert.equal(platformWarning("linux"), undefined);
});

Deno.test("macOS is partly supported: the help lists what is missing, the warning is one line", () => {
  assert.equal(supportOf("darwin"), "partial");
  const [head, ...items] = platformNotes("darwin");
  assert.equal(head, "On macOS, Hefur runs without:");
  const darwin = TARGET_TABLE.filter((t) => t.os === "darwin");
  assert.equal(items.length, darwin[0].missing.length);
  assert.match(items[0], /^ {2}- --uid\/--gid: /);
  assert.match(items[1], /deny list names Linux files/);
  assert.equal(platformHelp("darwin"), `\n${[head, ...items].join("\n")}\n`);
  const warning = platformWarning("darwin")!;
  assert.doesNotMatch(warning, /\n/);
  assert.match(warning, /^On macOS, Hefur runs without: --uid\/--gid: .*; the sandbox's deny list/);
});

Deno.test("Windows (or any other system) is said to be unsupported", () => {
  assert.equal(supportOf("windows"), "unsupported");
  assert.match(platformWarning("windows")!, /^Windows is not a system Hefur supports/);
  assert.match(platformHelp("freebsd"), /freebsd is not a system Hefur supports/);
});

Deno.test("--version: the version, the commit, the Deno and its target", () => {
  assert.match(
    versionText("0123456789ab", "2.9.6", "aarch64-apple-darwin"),
    /^hefur \d+\.\d+\.\d+ \(commit 0123456789ab\)\nDeno 2\.9\.6 \(aarch64-apple-darwin\)\nA BitTorrent tracker\. Free software under the MIT licence/,
  );
  assert.match(
    versionText(),
    new RegExp(`\\nDeno ${Deno.version.deno} \\(${Deno.build.target}\\)\\n`),
  );
});
