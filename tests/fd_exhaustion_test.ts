// Out of file descriptors. `hefur serve` lowers its connection limits at start to fit its
// descriptor limit, inside the sandbox (where it must find the limit by opening descriptors) as with
// every permission (where it reads it); and when descriptors run out anyway, here because the limit
// is lowered while it runs, the accept loops back off (a bounded number of failed accepts, not a
// spinning core), say so once, count it, and serve again once connections close.
import assert from "node:assert/strict";
import { SANDBOX_FLAGS } from "../build.ts";
import { ROOT, type ServeProcess, spawnServe } from "./support/serve_process.ts";
import { loopbackServeArgs } from "./process_helpers.ts";
import { freePort } from "./helpers.ts";
import {
  fitConnectionLimits,
  parseDescriptorLimit,
  RESERVED_DESCRIPTORS,
} from "../src/process/fd_limit.ts";
import { isFdExhaustion } from "../src/net/accept_backoff.ts";

const EXHAUSTED = /out of file descriptors/g;

/**
 * Starts `hefur serve` on `port` and waits for its ready line; under a descriptor limit of `limit`
 * from the start when it is given.
 */
function serve(
  port: number,
  flags: readonly string[],
  controlSocket = "",
  limit?: number,
): Promise<ServeProcess> {
  const deno = [
    Deno.execPath(),
    "run",
    ...flags,
    "src/main.ts",
    "serve",
    ...loopbackServeArgs(port),
    "--control-socket",
    controlSocket,
    // Held connections must not be cut for idling during the test.
    "--http-timeout",
    "60000",
  ];
  const [command, ...args] = limit === undefined
    ? deno
    : ["prlimit", `--nofile=${limit}:${limit}`, ...deno];
  return spawnServe(
    new Deno.Command(command, { args, cwd: ROOT, stdin: "null", stdout: "null", stderr: "piped" }),
  );
}

/** Resolves once the standard error of `server` matches `re`; fails after 20 s. */
async function waitFor(server: ServeProcess, re: RegExp): Promise<void> {
  for (let i = 0; i < 400 && !new RegExp(re.source).test(server.stderr()); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(server.stderr(), new RegExp(re.source), server.stderr());
}

/** Sets the descriptor limit of the running process `pid`, soft and hard, to `limit`. */
async function lowerLimit(pid: number, limit: number): Promise<void> {
  const out = await new Deno.Command("prlimit", {
    args: ["--pid", String(pid), `--nofile=${limit}:${limit}`],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

/** Opens `n` connections to `port` and keeps them. */
async function hold(port: number, n: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed by the server */ }
  }
}

/** The value of one sample of `/metrics`. */
async function metric(port: number, sample: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  assert.ok(line !== undefined, `no ${sample} in /metrics`);
  return Number(line.slice(sample.length + 1));
}

/** Resolves once `/stat` on `port` answers; fails after 20 s. */
async function waitReady(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      await (await fetch(`http://127.0.0.1:${port}/stat`)).body?.cancel();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error("hefur serve did not answer in 20 s");
}

Deno.test("out of descriptors under the sandbox: the accept loops back off, warn once, count, recover", async () => {
  const port = freePort();
  const dir = await Deno.makeTempDir();
  const socket = `${dir}/control`;
  const server = await serve(port, SANDBOX_FLAGS, socket);
  let held: Deno.TcpConn[] = [];
  let control: Deno.UnixConn | undefined;
  try {
    await waitReady(port);
    // Started under a limit that fits 4096 connections, then lowered below them.
    assert.doesNotMatch(server.stderr(), /lowered from/);
    await lowerLimit(server.pid, 128);
    held = await hold(port, 168);
    await waitFor(server, /HTTP on .*out of file descriptors/);
    // The control socket's accept loop meets the same wall.
    control = await Deno.connect({ transport: "unix", path: socket });
    await waitFor(server, /control socket: out of file descriptors/);
    // Two seconds out of descriptors: a spinning loop fails millions of accepts, the back-off
    // (10 ms doubling to 1 s) about ten.
    await new Promise((r) => setTimeout(r, 2000));
    closeAll(held);
    held = [];
    control.close();
    control = undefined;
    const failed = await metric(port, 'hefur_accept_errors_total{reason="fd_exhausted"}');
    assert.ok(failed >= 1 && failed < 50, `${failed} failed accepts`);
    // Served again.
    const page = await fetch(`http://127.0.0.1:${port}/stat`);
    assert.equal(page.status, 200);
    await page.body?.cancel();
  } finally {
    closeAll(held);
    control?.close();
    const { stderr } = await server.stop();
    await Deno.remove(dir, { recursive: true });
    // One warning for each listener's episode: the HTTP listener's and the control socket's.
    assert.equal(stderr.match(EXHAUSTED)?.length, 2, stderr);
    assert.match(
      stderr,
      /HTTP on 127\.0\.0\.1:\d+: out of file descriptors .* with \d+ connections open/,
    );
  }
});

for (
  const [where, flags] of [["under the sandbox", SANDBOX_FLAGS], ["with every permission", [
    "--allow-all",
  ]]] as const
) {
  Deno.test(`${where}, connection limits are lowered at start to fit the descriptor limit`, async () => {
    const limit = 256;
    const port = freePort();
    const server = await serve(port, flags, "", limit);
    let held: Deno.TcpConn[] = [];
    try {
      await waitReady(port);
      await waitFor(
        server,
        /file descriptor limit is 256: --max-http-connections lowered from 4096 to \d+ per listener and --max-ws-connections from 10000 to \d+/,
      );
      const [, http, ws] = /lowered from 4096 to (\d+) .* from 10000 to (\d+)/.exec(
        server.stderr(),
      )!
        .map(Number);
      // One HTTP listener, which also serves WebSocket: both together leave the reserve free.
      assert.ok(http >= 1 && http + ws <= limit - RESERVED_DESCRIPTORS, `${http} + ${ws}`);
      // More connections than descriptors: the ones past the limit are refused (closed at once),
      // and descriptors never run out.
      held = await hold(port, limit + 40);
      let closed = 0;
      const buf = new Uint8Array(16);
      for (const c of held.slice(http)) {
        if (await c.read(buf).catch(() => null) === null) closed++;
      }
      assert.equal(closed, held.length - http);
      closeAll(held);
      held = [];
      assert.equal(await metric(port, 'hefur_accept_errors_total{reason="fd_exhausted"}'), 0);
    } finally {
      closeAll(held);
      const { stderr } = await server.stop();
      assert.doesNotMatch(stderr, EXHAUSTED);
    }
  });
}

Deno.test("under the sandbox with a limit that fits the connections, nothing is lowered", async () => {
  const port = freePort();
  const server = await serve(port, SANDBOX_FLAGS, "", 20_000);
  try {
    await waitReady(port);
  } finally {
    assert.doesNotMatch((await server.stop()).stderr, /lowered from/);
  }
});

/** Runs the script `code` with `flags` under a descriptor limit of `limit`; its output. */
async function runLimited(limit: number, flags: readonly string[], code: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, code);
    const out = await new Deno.Command("prlimit", {
      args: [
        `--nofile=${limit}:${limit}`,
        Deno.execPath(),
        "run",
        "--config",
        `${ROOT}/deno.json`,
        ...flags,
        `${dir}/probe.ts`,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("inside the sandbox, the probe finds the limit and closes what it opened", async () => {
  const probe = `import { probeDescriptorLimit } from "${ROOT}/src/process/fd_limit.ts";
    import { openSync, closeSync } from "node:fs";
    const before = openSync("/dev/null", "r"); closeSync(before);
    const found = [probeDescriptorLimit(100_000), probeDescriptorLimit(100_000), probeDescriptorLimit(10)];
    const after = openSync("/dev/null", "r"); closeSync(after);
    console.log(JSON.stringify({ found, sameLowest: before === after }));`;
  for (const limit of [200, 1000]) {
    const result = JSON.parse(await runLimited(limit, SANDBOX_FLAGS, probe));
    // The limit twice (nothing left open by the first probe), then none (JSON's null): 10 opens fit.
    assert.deepEqual(result, { found: [limit, limit, null], sameLowest: true });
  }
});

Deno.test("the limit is read from /proc/self/limits' text, and connection limits scaled to fit", () => {
  const text = "Limit                     Soft Limit           Hard Limit           Units     \n" +
    "Max processes             63704                63704                processes \n" +
    "Max open files            1024                 524288               files     \n";
  assert.equal(parseDescriptorLimit(text), 1024);
  assert.equal(parseDescriptorLimit(text.replace("1024 ", "unlimited ")), undefined);
  assert.equal(parseDescriptorLimit("nothing"), undefined);
  const wanted = { maxHttpConnections: 4096, maxWsConnections: 10000 };
  assert.equal(fitConnectionLimits(100_000, 2, true, wanted), wanted);
  // 1024 - 128 = 896 descriptors for two HTTP listeners (8192) and WebSocket (10000).
  assert.equal(RESERVED_DESCRIPTORS, 128);
  const fitted = fitConnectionLimits(1024, 2, true, wanted);
  assert.deepEqual(fitted, { maxHttpConnections: 201, maxWsConnections: 492 });
  assert.ok(2 * fitted.maxHttpConnections + fitted.maxWsConnections <= 896);
  assert.deepEqual(fitConnectionLimits(1024, 1, false, wanted), {
    maxHttpConnections: 896,
    maxWsConnections: 10000,
  });
  assert.deepEqual(fitConnectionLimits(10, 1, true, wanted), {
    maxHttpConnections: 1,
    maxWsConnections: 1,
  });
});

Deno.test("only EMFILE and ENFILE count as running out of descriptors", () => {
  assert.ok(isFdExhaustion(new Error("Too many open files (os error 24)")));
  assert.ok(isFdExhaustion(new Error("Too many open files in system (os error 23)")));
  assert.ok(!isFdExhaustion(new Error("Connection reset by peer (os error 104)")));
  assert.ok(!isFdExhaustion("Too many open files"));
});
