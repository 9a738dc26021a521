// The --config file: every option under its long name, the command line over it, strict errors
// naming the file and the line, and the shipped example current and equal to the defaults.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { parseServeArgs, UsageError } from "../src/cli/args.ts";
import { keyLine, MAX_CONFIG_BYTES, parseConfigText } from "../src/cli/config_file.ts";
import { configExample } from "../src/cli/config_example.ts";
import { OPTIONS } from "../src/cli/options.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Writes `text` to a temporary file, runs `fn` with its path, removes it. */
async function withFile<T>(text: string, fn: (path: string) => T): Promise<T> {
  const path = await Deno.makeTempFile({ prefix: "hefur-config-", suffix: ".toml" });
  try {
    await Deno.writeTextFile(path, text);
    return fn(path);
  } finally {
    await Deno.remove(path);
  }
}

function usageError(argv: string[], message: RegExp) {
  assert.throws(() => parseServeArgs(argv), (e: Error) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("every kind of option is read from the file under its long name", async () => {
  const c = await withFile(
    [
      "# a comment",
      "http-port = 7000",
      "torrent-dir = '/srv/torrents'",
      "allow-proxy = true",
      'deny-from = ["10.0.0.0/8", "192.0.2.1"]',
      'log-level = "info"',
      'state-file = "relative/state.jsonl"',
    ].join("\n"),
    (path) => parseServeArgs(["--config", path]),
  );
  assert.equal(c.httpPort, 7000);
  assert.equal(c.torrentDir, "/srv/torrents");
  assert.equal(c.allowProxy, true);
  assert.deepEqual(c.denyFrom, ["10.0.0.0/8", "192.0.2.1"]);
  assert.equal(c.logLevel, "info");
  // A relative path is the file's directory's, wherever Hefur starts.
  assert.equal(c.stateFile, join(dirname(c.config), "relative/state.jsonl"));
  // What the file does not name keeps its default.
  assert.equal(c.udpPort, 6969);
  assert.equal(c.maxPeers, 1024);
});

Deno.test("the command line overrides the file, option by option; lists are replaced whole", async () => {
  const text = 'http-port = 7000\nudp-port = 7001\ndeny-from = ["10.0.0.0/8"]\nipv6 = true\n';
  const c = await withFile(text, (path) =>
    parseServeArgs([
      "--http-port",
      "8000",
      "-config",
      path,
      "--deny-from",
      "192.0.2.1",
    ]));
  assert.equal(c.httpPort, 8000, "command line");
  assert.equal(c.udpPort, 7001, "file");
  assert.deepEqual(c.denyFrom, ["192.0.2.1"]);
  assert.equal(c.ipv6, true);
  // A switch on the command line wins over `false` in the file.
  const d = await withFile(
    "allow-proxy = false\n",
    (path) => parseServeArgs(["--config", path, "--allow-proxy"]),
  );
  assert.equal(d.allowProxy, true);
});

Deno.test("unknown keys, bad values and syntax errors name the file and the line", async () => {
  const cases: [string, RegExp][] = [
    ["http-port = 6969\n\nhtp-port = 1\n", /:3: htp-port: unknown option/],
    ["http-port = 70000\n", /:1: http-port: 70000 is outside 0–65535/],
    ['\nhttp-port = "6969"\n', /:2: http-port: must be a whole number, not string "6969"/],
    ["http-port = 1.5\n", /:1: http-port: must be a whole number/],
    ['allow-proxy = "yes"\n', /:1: allow-proxy: must be true or false/],
    ["torrent-dir = 5\n", /:1: torrent-dir: must be a string/],
    ['deny-from = "10.0.0.0/8"\n', /:1: deny-from: must be an array of strings/],
    ["[tracker]\nmax-peers = 5\n", /:\?: tracker: unknown option \(options go at the top level/],
    ['chroot = "/srv"\n', /:1: chroot: Deno cannot chroot/],
    ['config = "other.toml"\n', /:1: config: a configuration file cannot name another/],
    ["http-port = 6969\nudp-port = \n", /:2: .*\(not valid TOML\)/],
    // Values checked after reading still name where they came from.
    ['\n\nearly-announces = "sometimes"\n', /:3: early-announces: "sometimes" is not one of/],
    ['deny-from = ["10.0.0.300"]\n', /:1: deny-from: /],
    ['store = "postgres://x"\n', /:1: store: /],
  ];
  for (const [text, message] of cases) {
    await withFile(text, (path) => {
      usageError(["--config", path], new RegExp(path.replaceAll(".", "\\.") + message.source));
    });
  }
  usageError(
    ["--config", "/nonexistent/hefur.toml"],
    /cannot read the configuration file .*: no such file/,
  );
  // The same value given on the command line is named as the option.
  usageError(["--early-announces", "sometimes"], /^--early-announces: "sometimes"/);
});

Deno.test("a configuration file that is not a bounded regular file is refused, not read", async () => {
  // A device that never ends, and a file past the bound: neither is read into memory.
  usageError(
    ["--config", "/dev/zero"],
    /cannot read the configuration file \/dev\/zero: not a regular file/,
  );
  await withFile("#".repeat(MAX_CONFIG_BYTES + 1), (path) => {
    usageError(["--config", path], new RegExp(`${path}: larger than ${MAX_CONFIG_BYTES} bytes`));
  });
  await withFile("# the largest file read\n" + "#".repeat(MAX_CONFIG_BYTES - 24), (path) => {
    assert.equal(parseServeArgs(["--config", path]).httpPort, 6969);
  });
});

Deno.test("a key's line is found bare or quoted, and not inside another key", () => {
  const text = 'max-peers-x = 1\n  max-peers = 2\n"http-port" = 3\n';
  assert.equal(keyLine(text, "max-peers"), 2);
  assert.equal(keyLine(text, "http-port"), 3);
  assert.equal(keyLine(text, "udp-port"), 0);
  assert.equal(parseConfigText("\n  max-peers = 2\n", "f").lines.get("max-peers"), 2);
});

Deno.test("deploy/hefur.toml is current, names every option, and parses to the defaults", async () => {
  const shipped = await Deno.readTextFile(`${ROOT}deploy/hefur.toml`);
  assert.equal(
    shipped,
    configExample(),
    "run: deno run -A src/cli/config_example.ts --write",
  );
  // Every option that can be set, under its name (those unset by default as a comment).
  for (const o of OPTIONS) {
    if (o.unavailable !== undefined || o.name === "config") continue;
    assert.ok(shipped.includes(o.help.split(" ").slice(0, 3).join(" ")), `${o.name}: help`);
  }
  const defaults = parseServeArgs([]);
  // As shipped (everything commented out) and with every default line uncommented, the file
  // gives exactly the defaults.
  const uncommented = shipped.replace(/^# ([a-z0-9-]+ = .*)$/gm, "$1");
  assert.ok(uncommented.split("\n").filter((l) => /^[a-z]/.test(l)).length > 60);
  for (const text of [shipped, uncommented]) {
    const c = await withFile(text, (path) => parseServeArgs(["--config", path]));
    assert.deepEqual({ ...c, config: "" }, defaults);
  }
});
