// Process behaviour of `hefur serve`: graceful stops on SIGINT/SIGTERM/SIGQUIT, SIGHUP reopening
// the log file.
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import {
  controlOnlyServeArgs,
  eventually,
  runCtl,
  startServe,
  tempDir,
} from "./process_helpers.ts";
import { freePort } from "./helpers.ts";

async function gone(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

for (const signal of ["SIGTERM", "SIGINT", "SIGQUIT"] as const) {
  Deno.test(`${signal}: listeners closed, log flushed and compressed, socket removed, exit 0`, async () => {
    await using tmp = await tempDir();
    const socket = join(tmp.path, "control");
    const log = join(tmp.path, "hefur.log");
    await using server = await startServe([
      "--http-port",
      String(freePort()),
      "--bind-addr",
      "127.0.0.1",
      "--udp-port",
      "0",
      "--control-socket",
      socket,
      "--log-level",
      "info",
      "--log-file",
      log,
      "--log-compression",
      "gzip",
    ]);
    const port = Number(server.ready.http.split(":").pop());
    (await Deno.connect({ hostname: "127.0.0.1", port })).close(); // listening
    assert.ok((await Deno.lstat(socket)).isSocket);

    server.kill(signal);
    const status = await server.exited;
    assert.equal(status.code, 0, server.stderr());
    assert.equal(status.signal, null);
    assert.ok(await gone(socket), "control socket removed");
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
    // The log file was flushed and compressed at exit, like the original.
    assert.ok(await gone(log));
    const text = new TextDecoder().decode(gunzipSync(await Deno.readFile(log + ".gz")));
    assert.match(text, /hefur: info: tracking open mode/);
    assert.match(text, new RegExp(`hefur: info: ${signal}: gracefully quitting\\n$`));
  });
}

Deno.test("SIGHUP reopens the log file after an outside rotation and keeps serving", async () => {
  await using tmp = await tempDir();
  const socket = join(tmp.path, "control");
  const log = join(tmp.path, "hefur.log");
  await using server = await startServe([
    ...controlOnlyServeArgs(socket),
    "--log-level",
    "info",
    "--log-file",
    log,
  ]);
  await eventually(async () => (await Deno.readTextFile(log)).includes("tracking open mode"));
  await Deno.rename(log, log + ".1"); // what logrotate does
  server.kill("SIGHUP");
  await eventually(async () => !(await gone(log)));
  assert.match(await Deno.readTextFile(log + ".1"), /SIGHUP: reopening the log file/);

  const status = await runCtl(["--socket", socket, "status"]);
  assert.equal(status.code, 0, status.stderr);
  server.kill("SIGTERM");
  assert.equal((await server.exited).code, 0, server.stderr());
  const fresh = await Deno.readTextFile(log);
  assert.match(fresh, /control: info: status requested/);
  assert.match(fresh, /SIGTERM: gracefully quitting/);
  assert.doesNotMatch(fresh, /tracking open mode/);
});
