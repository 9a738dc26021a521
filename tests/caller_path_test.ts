// Relative paths mean what the caller meant: through `deno task start` (which runs in the
// project's directory) they are the caller's directory's, and inside a --config file they are
// the file's own directory's.
import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "../src/protocol/bencode.ts";
import { parseServeArgs } from "../src/cli/args.ts";
import { callerPath, configFilePath, PATH_OPTIONS } from "../src/cli/caller_path.ts";
import { OPTIONS } from "../src/cli/options.ts";
import { freePort } from "./helpers.ts";
import { eventually, loopbackServeArgs, runCtl, startServe, tempDir } from "./process_helpers.ts";

function torrent(name: string): Uint8Array {
  return encode({
    info: { name, length: 3, "piece length": 16384, pieces: new Uint8Array(20) },
  });
}

/** Runs `fn` with INIT_CWD set to `dir` (or unset for undefined), restoring it after. */
function withInitCwd<T>(dir: string | undefined, fn: () => T): T {
  const before = Deno.env.get("INIT_CWD");
  if (dir === undefined) Deno.env.delete("INIT_CWD");
  else Deno.env.set("INIT_CWD", dir);
  try {
    return fn();
  } finally {
    if (before === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", before);
  }
}

Deno.test("serve through deno task: relative paths are the caller's, not the project's", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await Deno.mkdir(join(dir, "torrents"));
  await Deno.writeFile(join(dir, "torrents", "here.torrent"), torrent("here"));
  await using server = await startServe([
    ...loopbackServeArgs(freePort()),
    "--torrent-dir",
    "./torrents",
    "--state-file",
    "state.jsonl",
    "--control-socket",
    "control",
  ], { taskFrom: dir });
  assert.equal(server.ready.control, join(dir, "control"), server.stderr());
  const status = await runCtl(["--socket", join(dir, "control"), "--json", "status"]);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout).result;
  assert.equal(s.torrentDir, join(dir, "torrents"));
  assert.deepEqual(s.whitelist, { files: 1, hashes: 1 });
  // Stopped gracefully, it saves its state where the caller said.
  const quit = await runCtl(["--socket", join(dir, "control"), "quit"]);
  assert.equal(quit.code, 0, quit.stderr);
  await eventually(async () => {
    try {
      return (await Deno.stat(join(dir, "state.jsonl"))).isFile;
    } catch {
      return false;
    }
  });
  const root = new URL("..", import.meta.url).pathname;
  await assert.rejects(Deno.stat(join(root, "state.jsonl")), Deno.errors.NotFound);
});

Deno.test("every path option is resolved against INIT_CWD when set, and kept as given when not", () => {
  const args = PATH_OPTIONS.filter((name) => name !== "config").flatMap((name) => [
    `--${name}`,
    `rel/${name}`,
  ]);
  const set = withInitCwd("/srv/caller", () => parseServeArgs(args));
  const unset = withInitCwd(undefined, () => parseServeArgs(args));
  for (const name of PATH_OPTIONS.filter((name) => name !== "config")) {
    const key = name.replace(/-(.)/g, (_, c: string) => c.toUpperCase()) as keyof typeof set;
    assert.equal(set[key], `/srv/caller/rel/${name}`, name);
    assert.equal(unset[key], `rel/${name}`, name);
  }
  // An empty path is an option's "none", not the caller's directory.
  assert.equal(
    withInitCwd("/srv/caller", () => parseServeArgs(["--state-file", ""])).stateFile,
    "",
  );
  assert.equal(withInitCwd("/srv/caller", () => callerPath("/abs/x")), "/abs/x");
  // Every option listed is a string option of serve.
  for (const name of PATH_OPTIONS) {
    assert.equal(OPTIONS.find((o) => o.name === name)?.type, "string", name);
  }
});

Deno.test("paths inside a --config file are the file's directory's; the command line's are the caller's", async () => {
  await using tmp = await tempDir();
  const etc = join(tmp.path, "etc");
  await Deno.mkdir(etc);
  await Deno.writeTextFile(
    join(etc, "hefur.toml"),
    [
      'torrent-dir = "torrents"',
      'state-file = "../var/state.jsonl"',
      'log-file = "/var/log/hefur-%Y.log"',
      'www-dir = "./www"',
    ].join("\n"),
  );
  for (const initCwd of [tmp.path, undefined]) {
    const c = withInitCwd(initCwd, () =>
      parseServeArgs([
        "--config",
        initCwd === undefined ? join(etc, "hefur.toml") : "etc/hefur.toml",
        "--www-dir",
        initCwd === undefined ? "www" : "override/www",
      ]));
    assert.equal(c.config, join(etc, "hefur.toml"));
    assert.equal(c.torrentDir, join(etc, "torrents"));
    assert.equal(c.stateFile, join(tmp.path, "var", "state.jsonl"));
    assert.equal(c.logFile, "/var/log/hefur-%Y.log");
    // The command line overrides the file, as the caller meant it.
    assert.equal(c.wwwDir, initCwd === undefined ? "www" : join(tmp.path, "override", "www"));
  }
  assert.equal(configFilePath("", "/etc/hefur.toml"), "");
  assert.equal(configFilePath("a/b", "hefur.toml"), join(Deno.cwd(), "a", "b"));
});
