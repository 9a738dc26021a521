// The deployment files: the systemd unit is valid for systemd, and the commands the unit and the
// Containerfile run work in the permission sandbox, in directories laid out as they would be.
import assert from "node:assert/strict";
import { ENTRY } from "../build.ts";
import { freePort } from "./helpers.ts";
import { announceUrl, ROOT, sandboxed, spawnServe } from "./support/serve_process.ts";

const decoder = new TextDecoder();
const unit = await Deno.readTextFile(`${ROOT}deploy/hefur.service`);
const containerfile = await Deno.readTextFile(`${ROOT}deploy/Containerfile`);

/** Values of `key=` in the unit, continuation lines joined. */
function unitValues(key: string): string[] {
  return unit.replace(/\\\n\s*/g, " ").split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1).trim());
}

/** The JSON-array argument of a Containerfile instruction. */
function containerArray(instruction: string): string[] {
  const line = containerfile.split("\n").find((l) => l.startsWith(`${instruction} `));
  assert.ok(line, `no ${instruction} in the Containerfile`);
  return JSON.parse(line.slice(instruction.length + 1));
}

async function hasCommand(name: string): Promise<boolean> {
  try {
    await new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "the systemd unit passes systemd-analyze verify",
  ignore: !(await hasCommand("systemd-analyze")),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hefur-unit-" });
    try {
      // verify checks that ExecStart's program exists: stand deno in for the executable.
      await Deno.writeTextFile(
        `${dir}/hefur.service`,
        unit.replaceAll("/usr/local/bin/hefur", Deno.execPath()),
      );
      const out = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${dir}/hefur.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
      assert.equal(out.code, 0, text);
      assert.equal(text.trim(), "", text);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the unit runs as its own user, hardened, without W^X (V8 compiles at run time)", () => {
  const one = (key: string) => {
    const [v] = unitValues(key);
    assert.ok(v !== undefined, `${key}= missing`);
    return v;
  };
  assert.equal(one("DynamicUser"), "yes");
  assert.equal(one("NoNewPrivileges"), "yes");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("ProtectHome"), "yes");
  assert.equal(one("PrivateTmp"), "yes");
  assert.equal(one("PrivateDevices"), "yes");
  assert.equal(one("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
  assert.equal(one("AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
  assert.equal(one("RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
  assert.equal(one("SystemCallFilter"), "@system-service");
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("KillSignal"), "SIGTERM");
  assert.deepEqual(unitValues("MemoryDenyWriteExecute"), []);
  assert.equal(one("RuntimeDirectory"), "hefur");
  assert.equal(one("LogsDirectory"), "hefur");
  assert.match(one("StateDirectory"), /\bhefur\/torrents\b/);
});

/**
 * Runs `hefur <args>` in the sandbox with the deployment's directories moved under `dir` (`paths`
 * maps each to its place there, in the arguments and in `env`) and the listeners moved to free
 * loopback ports; checks that it serves, that `hefur ctl status` in the same environment reaches
 * it through the default control socket, and that it stops cleanly.
 */
async function runsInTheSandbox(
  args: string[],
  dir: string,
  paths: Record<string, string>,
  env: Record<string, string> = {},
) {
  const local = (a: string) =>
    Object.entries(paths).reduce((s, [from, to]) => s.replaceAll(from, `${dir}${to}`), a);
  const localEnv = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, local(v)]));
  const http = freePort();
  const server = await spawnServe(
    sandboxed(ENTRY, [
      ...args.map(local),
      "--bind-addr",
      "127.0.0.1",
      "--http-port",
      String(http),
      "--udp-port",
      String(freePort("udp")),
    ], { env: localEnv }),
  );
  let stopped;
  try {
    const reply = decoder.decode(await (await fetch(announceUrl(http))).bytes());
    // Whitelist mode with an empty torrent directory: served, and refused as unknown.
    assert.match(reply, /torrent not found/, reply);
    const ctl = await sandboxed(ENTRY, ["ctl", "--json", "status"], { env: localEnv }).output();
    assert.equal(ctl.code, 0, decoder.decode(ctl.stderr));
    assert.equal(JSON.parse(decoder.decode(ctl.stdout)).ok, true);
  } finally {
    stopped = await server.stop();
  }
  assert.doesNotMatch(stopped.stderr, /NotCapable|Requires \w+ access/, stopped.stderr);
  assert.equal(stopped.code, 0, stopped.stderr);
}

Deno.test("the unit's hefur serve command works in the sandbox", async () => {
  const [execStart] = unitValues("ExecStart");
  const [program, ...args] = execStart.replaceAll("%%", "%").split(/\s+/);
  assert.equal(program, "/usr/local/bin/hefur");
  assert.equal(args[0], "serve");
  const dir = await Deno.makeTempDir({ prefix: "hefur-unit-" });
  try {
    // What systemd creates from StateDirectory=, LogsDirectory= and RuntimeDirectory=, and the
    // variable it sets for the last (where the control socket goes by default).
    await Deno.mkdir(`${dir}/state/torrents`, { recursive: true });
    await Deno.mkdir(`${dir}/logs`);
    await Deno.mkdir(`${dir}/run`, { mode: 0o750 });
    // The example configuration, installed where the unit reads it.
    assert.equal(args[args.indexOf("--config") + 1], "/etc/hefur/hefur.toml");
    await Deno.mkdir(`${dir}/etc`);
    await Deno.copyFile(`${ROOT}deploy/hefur.toml`, `${dir}/etc/hefur.toml`);
    await runsInTheSandbox(
      args,
      dir,
      {
        "/var/lib/hefur": "/state",
        "/var/log/hefur": "/logs",
        "/run/hefur": "/run",
        "/etc/hefur": "/etc",
      },
      { RUNTIME_DIRECTORY: "/run/hefur" },
    );
    const logs = await Array.fromAsync(Deno.readDir(`${dir}/logs`));
    assert.equal(logs.length, 1, "one log file, named by its strftime pattern");
    // (compressed with the unit's --log-compression when Hefur closed it)
    assert.match(logs[0].name, /^hefur-\d{4}-\d{2}-\d{2}\.log(\.zst)?$/);
    // The state file was saved at shutdown, in the service's own directory.
    const state = await Deno.readTextFile(`${dir}/state/state.jsonl`);
    assert.match(state, /^\{"format":"hefur-state","version":2,/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Containerfile runs the executable as a user, with the ports and volume it serves", async () => {
  assert.deepEqual(containerArray("ENTRYPOINT"), ["/usr/local/bin/hefur"]);
  assert.match(containerfile, /^COPY dist\/hefur \/usr\/local\/bin\/hefur$/m);
  assert.match(containerfile, /^USER hefur$/m);
  assert.match(containerfile, /^EXPOSE 6969\/udp 6969\/tcp 6970\/tcp$/m);
  const [volume] = containerArray("VOLUME");
  const cmd = containerArray("CMD");
  assert.equal(cmd[cmd.indexOf("--torrent-dir") + 1], volume);

  const env = Object.fromEntries(
    containerfile.split("\n").filter((l) => l.startsWith("ENV ")).map((l) =>
      l.slice(4).split("=", 2)
    ),
  );
  assert.equal(env.HEFUR_CONTROL_SOCKET, "/run/hefur/control", "serve and ctl agree on the socket");

  const dir = await Deno.makeTempDir({ prefix: "hefur-container-" });
  try {
    await Deno.mkdir(`${dir}/torrents`);
    await Deno.mkdir(`${dir}/run`, { mode: 0o750 });
    await runsInTheSandbox(cmd, dir, { [volume]: "/torrents", "/run/hefur": "/run" }, env);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
