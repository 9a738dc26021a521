// build.ts: the deno compile command it runs, the clear failure when the runtime is missing, and
// what the executable carries (checked on a stand-in runtime where denort cannot be had).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  cachedRuntimePath,
  checksumsText,
  EXIT_NO_RUNTIME,
  EXIT_USAGE,
  hostTarget,
  parseBuildArgs,
  PROBE_ENTRY,
  runtimeFailure,
  SANDBOX_FLAGS,
  TARGETS,
  V8_FLAGS,
} from "../build.ts";
import { TARGET_TABLE } from "../src/platform.ts";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

/**
 * Runs `build.ts <args>` with this process's environment, plus `env`, less `DENORT_BIN` unless
 * `env` sets it (a developer's own runtime must not change what a test checks).
 */
async function build(args: string[], env: Record<string, string> = {}) {
  const base = Deno.env.toObject();
  delete base.DENORT_BIN;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "build.ts", ...args],
    cwd: ROOT,
    clearEnv: true,
    env: { ...base, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** The commit build.ts should bake: the short HEAD, `-dirty` when tracked files changed. */
async function expectedCommit(): Promise<RegExp> {
  const out = await new Deno.Command("git", {
    args: ["rev-parse", "--short=12", "HEAD"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  return new RegExp(`^${decoder.decode(out.stdout).trim()}(-dirty)?$`);
}

async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  return JSON.parse(decoder.decode(out.stdout)).denoDir;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("the build command line: targets, output directory, dry run; bad arguments are refused", () => {
  assert.deepEqual(parseBuildArgs([]), {
    targets: [],
    dryRun: false,
    outDir: "dist",
    release: false,
  });
  assert.equal(parseBuildArgs(["--release"]).release, true);
  assert.deepEqual(parseBuildArgs(["--all"]).targets, TARGETS);
  assert.deepEqual(
    parseBuildArgs(["--target=x86_64-apple-darwin", "--target", "x86_64-apple-darwin"]).targets,
    ["x86_64-apple-darwin"],
  );
  assert.equal(parseBuildArgs(["--out-dir", "/tmp/out"]).outDir, "/tmp/out");
  assert.throws(() => parseBuildArgs(["--target", "sparc-sun-solaris"]), /unknown target/);
  assert.throws(() => parseBuildArgs(["--target"]), /--target needs a value/);
  assert.throws(() => parseBuildArgs(["--publish"]), /unknown argument "--publish"/);
});

Deno.test("--dry-run prints the deno compile command: the sandbox, the assets, the commit", async () => {
  const { code, stdout } = await build(["--dry-run"]);
  assert.equal(code, 0);
  const [command, runtime] = stdout.trim().split("\n");
  const args = command.split(" ");
  assert.deepEqual(args.slice(0, 2), ["deno", "compile"]);
  assert.deepEqual(args.slice(2, 2 + SANDBOX_FLAGS.length), [
    "--permission-set=hefur",
    "--no-prompt",
    "--frozen",
  ]);
  for (const flag of V8_FLAGS) assert.ok(args.includes(flag), `${flag} is compiled in`);
  assert.ok(args.includes("--exclude-unused-npm"), "only the packages src/ imports");
  assert.equal(args[args.indexOf("--include") + 1], "www");
  assert.equal(args[args.indexOf("--output") + 1], "dist/hefur");
  assert.ok(!args.includes("--target"), "this machine's target needs no --target");
  assert.equal(args.at(-2), "src/main.ts");
  assert.match(args.at(-1)!, /^--build-commit=/);
  assert.match(args.at(-1)!.slice("--build-commit=".length), await expectedCommit());
  assert.match(runtime, /# runtime: /);
  // No flag outside the sandbox's can widen it.
  for (const a of args) assert.doesNotMatch(a, /^--allow-|^-A$|^--unstable-ffi/);
});

Deno.test("--target and --all name one executable per target", async () => {
  const other = TARGETS.find((t) => t !== hostTarget())!;
  const one = await build(["--dry-run", "--target", other]);
  assert.equal(one.code, 0);
  assert.match(
    one.stdout,
    new RegExp(`--output dist/hefur-${other} --target ${other} src/main.ts`),
  );

  const all = await build(["--dry-run", "--all", "--out-dir", "out"]);
  assert.equal(all.code, 0);
  const commands = all.stdout.split("\n").filter((l) => l.startsWith("deno compile"));
  assert.equal(commands.length, TARGETS.length);
  for (const target of TARGETS.filter((t) => t !== hostTarget())) {
    assert.ok(commands.some((c) => c.includes(`--output out/hefur-${target} --target ${target} `)));
  }
  assert.ok(commands.some((c) => c.includes("--output out/hefur ")));

  const bad = await build(["--target", "sparc-sun-solaris"]);
  assert.equal(bad.code, EXIT_USAGE);
  assert.match(bad.stderr, /unknown target "sparc-sun-solaris"; Hefur is built for: x86_64/);
  const windows = await build(["--target", "x86_64-pc-windows-msvc"]);
  assert.equal(windows.code, EXIT_USAGE, "Windows is no target (see src/platform.ts)");

  const twoWithOneRuntime = await build(["--all"], { DENORT_BIN: "/nonexistent/denort" });
  assert.equal(twoWithOneRuntime.code, EXIT_USAGE);
  assert.match(twoWithOneRuntime.stderr, /one --target at a time/);
});

Deno.test("a DENORT_BIN that is missing, or is deno itself, fails with what to do", async () => {
  const missing = await build([], { DENORT_BIN: "/nonexistent/denort" });
  assert.equal(missing.code, EXIT_NO_RUNTIME);
  assert.match(
    missing.stderr,
    /the Deno runtime \(denort \d+\.\d+\.\d+\) is missing and cannot be fetched/,
  );
  assert.match(
    missing.stderr,
    /DENORT_BIN is set to "\/nonexistent\/denort", but that file cannot be read/,
  );
  assert.match(missing.stderr, /set DENORT_BIN to the denort executable/);
  assert.match(missing.stderr, /dl\/release\/v\d+\.\d+\.\d+\/denort-[\w-]+\.zip/);

  const deno = await build([], { DENORT_BIN: Deno.execPath() });
  assert.equal(deno.code, EXIT_NO_RUNTIME);
  assert.match(deno.stderr, /which is the deno command itself, not denort/);
});

Deno.test("the targets are the table of src/platform.ts: Linux and macOS, no Windows", () => {
  assert.deepEqual(TARGETS, TARGET_TABLE.map((t) => t.target));
  assert.deepEqual(TARGETS, [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
  ]);
  for (const t of TARGET_TABLE) {
    assert.equal(t.missing.length === 0, t.os === "linux", `${t.target}: what it lacks is said`);
  }
});

Deno.test("a build that fails leaves no output directory behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-build-" });
  try {
    for (const args of [[], ["--release", "--target", hostTarget()]]) {
      const out = await build([...args, "--out-dir", `${dir}/dist`], {
        DENORT_BIN: "/nonexistent/denort",
      });
      assert.equal(out.code, EXIT_NO_RUNTIME, out.stderr);
      assert.ok(!exists(`${dir}/dist`), `${args.join(" ")}: dist/ was left behind`);
    }
    // A directory that was there before stays, with what it held.
    await Deno.mkdir(`${dir}/kept`);
    await Deno.writeTextFile(`${dir}/kept/notes.txt`, "mine");
    const out = await build(["--out-dir", `${dir}/kept`], { DENORT_BIN: "/nonexistent/denort" });
    assert.equal(out.code, EXIT_NO_RUNTIME);
    assert.deepEqual([...Deno.readDirSync(`${dir}/kept`)].map((e) => e.name), ["notes.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--release --dry-run: each target's executable and sandbox probe, then SHA256SUMS", async () => {
  const { code, stdout } = await build(["--release", "--dry-run"]);
  assert.equal(code, 0);
  const commands = stdout.split("\n").filter((l) => l.startsWith("deno compile"));
  assert.equal(commands.length, 2 * TARGETS.length);
  for (const target of TARGETS) {
    const hefur = commands.find((c) => c.includes(`--output dist/hefur-${target} `))!;
    const probe = commands.find((c) =>
      c.includes(`--output dist/probes/sandbox-probe-${target} `)
    )!;
    assert.ok(hefur && probe, target);
    // The probe runs in exactly Hefur's sandbox.
    const flags = [...SANDBOX_FLAGS, ...V8_FLAGS, "--exclude-unused-npm"].join(" ");
    assert.ok(hefur.startsWith(`deno compile ${flags} `));
    assert.ok(probe.startsWith(`deno compile ${flags} `));
    assert.ok(probe.endsWith(` ${PROBE_ENTRY}`));
  }
  assert.match(stdout, /# then dist\/SHA256SUMS$/m);
});

Deno.test("SHA256SUMS is what sha256sum -c reads", () => {
  const files = new Map([["hefur-b", new Uint8Array([1, 2])], ["hefur-a", new Uint8Array()]]);
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  assert.equal(
    checksumsText(files),
    `${sha(new Uint8Array())}  hefur-a\n${sha(new Uint8Array([1, 2]))}  hefur-b\n`,
  );
});

Deno.test({
  name: "a runtime that cannot be downloaded fails with what to do",
  // With the runtime in Deno's cache nothing is downloaded, so there is nothing to fail.
  ignore: exists(cachedRuntimePath(await denoDir(), hostTarget())),
  async fn() {
    // A proxy on a closed port makes the download fail at once, online or not.
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const proxy = `http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}`;
    closed.close();
    const dir = await Deno.makeTempDir({ prefix: "hefur-build-" });
    try {
      const out = await build(["--out-dir", `${dir}/dist`], {
        HTTPS_PROXY: proxy,
        https_proxy: proxy,
      });
      assert.equal(out.code, EXIT_NO_RUNTIME, out.stderr);
      assert.match(out.stderr, /is missing and cannot be fetched/);
      assert.match(out.stderr, /error sending request/);
      assert.match(out.stderr, /denort-[\w-]+\.zip/);
      assert.match(out.stderr, /DENORT_BIN=\/path\/to\/denort deno task build/);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "no empty dist/ left behind");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("runtimeFailure tells a missing runtime from other compile errors", () => {
  assert.equal(
    runtimeFailure(
      "error: Writing deno compile executable to temporary file 'x'\n\nCaused by:\n" +
        "    0: Setting up base binary.\n    1: error sending request for url (u): dns error\n",
    ),
    "error sending request for url (u): dns error",
  );
  assert.equal(
    runtimeFailure("Caused by:\n    0: Could not find denort at '/x'\n    1: No such file"),
    "Could not find denort at '/x'",
  );
  assert.equal(runtimeFailure("error: TS2322 [ERROR]: Type 'string' is not assignable"), undefined);
});

/**
 * The metadata `deno compile` appends to the executable: a JSON object that starts with
 * `{"argv":` (Deno 2.9's layout), read by matching braces outside strings.
 */
function compiledMetadata(bytes: Uint8Array): Record<string, unknown> {
  const text = new TextDecoder("latin1").decode(bytes);
  const start = text.indexOf('{"argv":');
  assert.ok(start >= 0, "no deno compile metadata in the executable");
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return JSON.parse(text.slice(start, i + 1));
  }
  throw new Error("unterminated deno compile metadata");
}

Deno.test({
  name: "the executable carries the permission set of deno.json, the commit and the assets",
  // A stand-in runtime: any executable that is not deno. The result does not run, but deno compile
  // writes into it exactly what it would write into denort.
  ignore: !exists("/bin/true"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hefur-build-" });
    try {
      await Deno.copyFile("/bin/true", `${dir}/stand-in-runtime`);
      const out = await build(["--out-dir", dir], { DENORT_BIN: `${dir}/stand-in-runtime` });
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stderr, /Embedded Files/);
      assert.doesNotMatch(out.stderr, /experimental/, "Deno's notice about permission sets");
      assert.match(out.stderr, /src/);
      assert.match(out.stderr, /www/);

      const meta = compiledMetadata(await Deno.readFile(`${dir}/hefur`));
      const [commit] = meta.argv as string[];
      assert.equal((meta.argv as string[]).length, 1);
      assert.match(commit.slice("--build-commit=".length), await expectedCommit());

      const p = meta.permissions as Record<string, unknown>;
      const set = denoJson.permissions.hefur;
      assert.equal(p.prompt, false);
      assert.deepEqual(p.allow_net, []); // [] is "all"; see docs/security.md
      assert.deepEqual(p.deny_net, set.net.deny);
      assert.deepEqual(p.allow_read, []);
      assert.deepEqual(p.deny_read, set.read.deny);
      assert.deepEqual(p.allow_write, []);
      assert.deepEqual(p.deny_write, set.write.deny);
      assert.deepEqual(p.allow_env, set.env);
      for (const denied of ["deny_run", "deny_ffi", "deny_import"]) {
        assert.deepEqual(p[denied], [], `${denied}: everything`);
      }
      assert.equal(p.allow_run, null);
      assert.equal(p.allow_ffi, null);
      // Only the ids and umask the control socket and --uid/--gid need (docs/security.md).
      assert.deepEqual(p.allow_sys, set.sys);
      assert.equal(p.deny_sys, null);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "--release: hefur-<target>, its checksum, and the sandbox probe with the same permissions",
  ignore: !exists("/bin/true"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hefur-build-" });
    try {
      await Deno.copyFile("/bin/true", `${dir}/stand-in-runtime`);
      const target = hostTarget();
      const out = await build(["--release", "--target", target, "--out-dir", `${dir}/dist`], {
        DENORT_BIN: `${dir}/stand-in-runtime`,
      });
      assert.equal(out.code, 0, out.stderr);
      // The npm packages src/ imports are embedded, the test-only ones are not.
      for (const used of ["@logtape/logtape", "@redis/client", "commander", "ipaddr.js"]) {
        assert.ok(out.stderr.includes(`${used}/`), `${used} is embedded`);
      }
      for (const unused of ["yaml", "fast-xml-parser", "@rowanmanning/feed-parser"]) {
        assert.ok(!out.stderr.includes(`${unused}/`), `${unused} is not embedded`);
      }
      assert.deepEqual([...Deno.readDirSync(`${dir}/dist`)].map((e) => e.name).sort(), [
        "SHA256SUMS",
        `hefur-${target}`,
        "probes",
      ]);
      const hefur = await Deno.readFile(`${dir}/dist/hefur-${target}`);
      const digest = createHash("sha256").update(hefur).digest("hex");
      assert.equal(
        await Deno.readTextFile(`${dir}/dist/SHA256SUMS`),
        `${digest}  hefur-${target}\n`,
      );
      const probe = await Deno.readFile(`${dir}/dist/probes/sandbox-probe-${target}`);
      const [hefurMeta, probeMeta] = [hefur, probe].map(compiledMetadata);
      assert.deepEqual(probeMeta.permissions, hefurMeta.permissions);
      assert.deepEqual(probeMeta.v8Flags, hefurMeta.v8Flags);
      assert.deepEqual(probeMeta.argv, [], "the probe has no baked argument");
      assert.match((hefurMeta.argv as string[])[0], /^--build-commit=/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A real denort: DENORT_BIN, or Deno's cached download for this machine. */
async function realRuntime(): Promise<boolean> {
  const bin = Deno.env.get("DENORT_BIN");
  if (bin) return exists(bin) && Deno.realPathSync(bin) !== Deno.realPathSync(Deno.execPath());
  return exists(cachedRuntimePath(await denoDir(), hostTarget()));
}

Deno.test({
  name: "the real executable passes the release smoke test (tests/release_smoke_test.ts)",
  // Needs the runtime, which cannot be fetched on every machine (see build.ts); the release
  // workflow runs the same smoke test on every target's own system.
  ignore: !(await realRuntime()),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hefur-build-" });
    try {
      const target = hostTarget();
      const built = await build(["--release", "--target", target, "--out-dir", dir]);
      assert.equal(built.code, 0, built.stderr);
      const smoke = await new Deno.Command(Deno.execPath(), {
        args: ["test", "--allow-all", "tests/release_smoke_test.ts"],
        cwd: ROOT,
        env: {
          HEFUR_BIN: `${dir}/hefur-${target}`,
          HEFUR_SANDBOX_PROBE: `${dir}/probes/sandbox-probe-${target}`,
          HEFUR_TARGET: target,
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(smoke.code, 0, decoder.decode(smoke.stdout) + decoder.decode(smoke.stderr));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the licence: LICENSE is MIT as deno.json and --version say; deno publish accepts it", async () => {
  const license = await Deno.readTextFile(new URL("../LICENSE", import.meta.url));
  assert.match(license, /^MIT License\n\nCopyright \(c\) Hefur contributors\n/);
  assert.equal(denoJson.license, "MIT");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /Dry run complete/);
  for (const file of ["LICENSE", "README.md", "src/main.ts", "www/css/hefur.css"]) {
    assert.ok(text.includes(`/${file} (`), `${file} is published`);
  }
  assert.doesNotMatch(text, /\/tests\/|\/bench\//, "tests and benchmarks are not published");
});
