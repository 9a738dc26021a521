// A graceful stop under load answers what it accepted: requests in flight get their whole
// response, connections without a request end cleanly, and nothing arrives cut short.
import assert from "node:assert/strict";
import { HttpServer } from "../src/net/http_server.ts";
import { freePort, pct, startTestHefur } from "./helpers.ts";
import { startServe } from "./process_helpers.ts";
import { exchange, type Outcome, readResponse } from "./support/http_load.ts";

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ok()` holds, polling; fails after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** A connection that made one keep-alive request and now waits, idle, in the server. */
async function idleConnection(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode("GET /stat HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"),
  );
  const [first] = await readResponse(conn, new Uint8Array(0));
  assert.ok(first.kind === "full" && first.keepAlive, JSON.stringify(first));
  return conn;
}

function announceTarget(n: number): string {
  const hash = ("g" + (n % 50)).padEnd(20, "#");
  const id = ("-GS0001-" + n).padEnd(20, "x");
  return `/announce?info_hash=${pct(hash)}&peer_id=${pct(id)}&port=${1024 + (n % 60000)}` +
    "&uploaded=0&downloaded=0&left=1&compact=1";
}

/** Tallies outcomes by kind. */
function tally(outcomes: Outcome[]): Record<Outcome["kind"], number> {
  const t = { full: 0, empty: 0, truncated: 0, refused: 0 };
  for (const o of outcomes) t[o.kind]++;
  return t;
}

/**
 * Runs `clients` loops of requests against `port` until `stop()` says so or the listener refuses
 * them; each loop alternates one announce per connection and two pages on a keep-alive one.
 */
function load(port: number, clients: number, extra: string[] = []) {
  let stopped = false;
  const outcomes: Outcome[] = [];
  let n = 0;
  const loops = Array.from({ length: clients }, async (_, k) => {
    for (let i = 0; !stopped && i < 100_000; i++) {
      const targets = i % 3 === 2
        ? ["/stat", extra.length > 0 ? extra[(k + i) % extra.length] : "/stat"]
        : [announceTarget(n++)];
      const got = await exchange(port, targets);
      outcomes.push(...got);
      if (got.some((o) => o.kind === "refused")) return;
    }
  });
  return {
    outcomes,
    stop: () => stopped = true,
    done: Promise.all(loops),
  };
}

Deno.test("close() under load: in-flight requests answered in full, none truncated", async () => {
  // The load comes from one address: no page rate limit.
  const hefur = await startTestHefur({ httpTimeout: 3000, pageRate: 0 });
  // A handler that takes its time, so requests are surely in flight when the stop begins.
  let slowStarted = 0;
  hefur.router.on("/slow", async () => {
    slowStarted++;
    await delay(300);
    return { status: 200, body: "slow but whole\n".repeat(1000), keepAlive: true };
  });
  const port = hefur.http!.addr.port;
  const run = load(port, 8, ["/slow"]);
  try {
    await until(() => slowStarted >= 4 && run.outcomes.length >= 200, 30_000, "load");
    // Idle keep-alive connections, to be shut cleanly.
    const idle = await Promise.all(Array.from({ length: 5 }, () => idleConnection(port)));
    const idleEnds = idle.map(async (c) => {
      try {
        return await c.read(new Uint8Array(16));
      } catch {
        return "reset";
      } finally {
        c.close();
      }
    });
    await hefur.close();
    run.stop();
    await run.done;
    assert.deepEqual(await Promise.all(idleEnds), [null, null, null, null, null]);
    const t = tally(run.outcomes);
    assert.equal(t.truncated, 0, JSON.stringify(t));
    assert.ok(t.full >= 200, JSON.stringify(t));
    // Every announce the core handled was answered in full: none was lost to the stop.
    const fullAnnounces = run.outcomes.filter((o) =>
      o.kind === "full" && new TextDecoder().decode(o.body).startsWith("d8:complete")
    ).length;
    assert.equal(fullAnnounces, hefur.tracker.counters.announces);
    // Every slow request that started was answered (with its 15 000 bytes).
    const slowDone = run.outcomes.filter((o) =>
      o.kind === "full" && o.body.length === 15_000
    );
    assert.equal(slowDone.length, slowStarted);
  } finally {
    run.stop();
    await hefur.close();
    await run.done;
  }
});

Deno.test("close() cuts a handler that outlives the drain, cleanly, and returns", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { promise: release, resolve: letGo } = Promise.withResolvers<void>();
  let started = 0;
  const server = new HttpServer(listener, async () => {
    started++;
    await release;
    return { status: 200, body: "late\n" };
  }, { timeoutMs: 5000, maxHeadBytes: 8192, maxConnections: 100, drainMs: 200 });
  const port = server.addr.port;
  const stuck = exchange(port, ["/stuck"]);
  await until(() => started > 0, 10_000, "the handler");
  await server.close();
  letGo();
  assert.deepEqual(await stuck, [{ kind: "empty" }]);
  assert.deepEqual(await exchange(port, ["/"]), [{ kind: "refused" }]);
  assert.equal(server.connections, 0);
});

Deno.test("a request still arriving when close() begins is answered, with connection: close", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = new HttpServer(
    listener,
    () => ({ status: 200, body: "ok\n", keepAlive: true }),
    { timeoutMs: 5000, maxHeadBytes: 8192, maxConnections: 100, drainMs: 2000 },
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const enc = new TextEncoder();
  await conn.write(enc.encode("GET / HTTP/1.1\r\nHost: t\r\n"));
  await until(() => server.connections > 0, 10_000, "the connection");
  await delay(50); // the first half has been read
  const closing = server.close();
  await conn.write(enc.encode("Connection: keep-alive\r\n\r\n"));
  const chunks: number[] = [];
  const buf = new Uint8Array(1024);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    chunks.push(...buf.subarray(0, n));
  }
  conn.close();
  await closing;
  const text = new TextDecoder().decode(new Uint8Array(chunks));
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nconnection: close\r\n\r\nok\n$/);
});

Deno.test({
  name: "SIGTERM under load: exit 0, and no response cut short",
  // Loops are bounded; the process is killed at the end whatever happens.
  fn: async () => {
    const port = freePort();
    await using server = await startServe([
      "--http-port",
      String(port),
      "--bind-addr",
      "127.0.0.1",
      "--udp-port",
      "0",
      "--control-socket",
      "",
      "--log-level",
      "warning",
    ]);
    const run = load(port, 8);
    const enc = new TextEncoder();
    const halfSent: Deno.Conn[] = [];
    let finished: Outcome[] = [];
    try {
      await until(
        () => run.outcomes.filter((o) => o.kind === "full").length >= 300,
        30_000,
        "load",
      );
      // Requests whose first half the server has already read when the signal comes.
      for (let i = 0; i < 3; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(enc.encode(`GET ${announceTarget(900_000 + i)} HTTP/1.1\r\n`));
        halfSent.push(conn);
      }
      await delay(200);
      server.kill("SIGTERM");
      await delay(100);
      finished = await Promise.all(halfSent.map(async (conn) => {
        await conn.write(enc.encode("Host: t\r\n\r\n"));
        return (await readResponse(conn, new Uint8Array(0)))[0];
      }));
      const status = await server.exited;
      assert.equal(status.code, 0, server.stderr());
      await run.done;
    } finally {
      run.stop();
      for (const c of halfSent) c.close();
      await run.done;
    }
    for (const o of finished) {
      assert.ok(o.kind === "full" && o.status === 200 && !o.keepAlive, JSON.stringify(o));
    }
    const t = tally(run.outcomes);
    assert.equal(t.truncated, 0, JSON.stringify(t));
    assert.ok(t.full >= 300, JSON.stringify(t));
    assert.ok(t.refused >= 1, "the clients met the closed listener");
  },
});
