// /metrics: the registry's text format, counters that follow real traffic, and where it is served.
import assert from "node:assert/strict";
import { MetricNameError, Registry } from "../src/metrics/registry.ts";
import { parseServeArgs, UsageError } from "../src/cli/args.ts";
import { encodeUdpRequest, parseUdpReply } from "../src/protocol/udp_packet.ts";
import { udpStartedAnnounce } from "./support/clients.ts";
import { freePort, getBencoded, httpBase, pct, startTestHefur } from "./helpers.ts";
import type { Hefur } from "../src/app.ts";
import { VERSION } from "../src/version.ts";
import { controlHandler } from "../src/control/commands.ts";
import { ControlError, type MetricsResult } from "../src/control/protocol.ts";

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(
  `^(${NAME})(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*\\})? (\\S+)$`,
);

/**
 * Parses the Prometheus text format strictly: every line is a HELP, a TYPE or a sample of a
 * declared metric. Returns samples keyed by `name{labels}` as written.
 */
function parseMetrics(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "the text ends with a newline");
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta !== null) {
      if (meta[1] === "TYPE") {
        assert.match(meta[3], /^(counter|gauge|histogram)$/, line);
        assert.ok(!types.has(meta[2]), `${meta[2]} declared twice`);
        types.set(meta[2], meta[3]);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m !== null, `not a sample line: ${JSON.stringify(line)}`);
    const base = m[1].replace(/_(bucket|sum|count)$/, "");
    assert.ok(
      types.get(m[1]) !== undefined || types.get(base) === "histogram",
      `sample of an undeclared metric: ${line}`,
    );
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value), `bad value in ${line}`);
    const key = m[1] + (m[2] ?? "");
    assert.ok(!samples.has(key), `sample repeated: ${key}`);
    samples.set(key, value);
  }
  return samples;
}

async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseMetrics(await res.text());
}

function value(samples: Map<string, number>, key: string): number {
  const v = samples.get(key);
  assert.ok(v !== undefined, `no sample ${key}`);
  return v;
}

Deno.test("the registry renders counters, gauges and histograms in the text format", () => {
  const r = new Registry();
  const c = r.counter("t_requests_total", "Requests.", ["path"]);
  const g = r.gauge("t_temperature", "A gauge\nwith two lines.");
  const h = r.histogram("t_seconds", "Durations.", [0.1, 1], ["kind"]);
  c.inc({ path: 'a"b\\c\nd' });
  c.inc({ path: "/x" }, 2);
  g.set(-1.5);
  h.observe(0.05, { kind: "k" });
  h.observe(0.1, { kind: "k" });
  h.observe(0.5, { kind: "k" });
  h.observe(7, { kind: "k" });
  let collected = 0;
  r.onCollect(() => collected++);
  const text = r.render();
  assert.equal(collected, 1);
  const s = parseMetrics(text);
  assert.equal(s.get('t_requests_total{path="a\\"b\\\\c\\nd"}'), 1);
  assert.equal(s.get('t_requests_total{path="/x"}'), 2);
  assert.equal(s.get("t_temperature"), -1.5);
  assert.match(text, /^# HELP t_temperature A gauge\\nwith two lines\.$/m);
  assert.match(text, /^# TYPE t_temperature gauge$/m);
  assert.match(text, /^# TYPE t_seconds histogram$/m);
  // Buckets are cumulative and `le` is inclusive.
  assert.equal(s.get('t_seconds_bucket{kind="k",le="0.1"}'), 2);
  assert.equal(s.get('t_seconds_bucket{kind="k",le="1"}'), 3);
  assert.equal(s.get('t_seconds_bucket{kind="k",le="+Inf"}'), 4);
  assert.equal(s.get('t_seconds_count{kind="k"}'), 4);
  assert.equal(s.get('t_seconds_sum{kind="k"}'), 7.65);
  assert.throws(() => r.counter("t_requests_total", "again"), MetricNameError);
  assert.throws(() => r.gauge("bad-name", "x"), MetricNameError);
  assert.throws(() => r.histogram("t_h", "x", [1], ["le"]), MetricNameError);
});

const HASH = "\x07".repeat(20);

function announceUrl(base: string, port: number, hash = HASH): string {
  return `${base}/announce?info_hash=${pct(hash)}&peer_id=${
    ("-MT0001-" + port).padEnd(20, "x")
  }&port=${port}&uploaded=0&downloaded=0&left=10`;
}

/** Connects and announces over UDP by calling the listener's packet handler directly. */
function udpAnnounce(hefur: Hefur, port: number): void {
  const out = new Uint8Array(2048);
  const udp = hefur.udp!;
  let n = udp.handle(encodeUdpRequest({ kind: "connect", transactionId: 1 }), "127.0.0.1", out);
  const c = parseUdpReply(out.slice(0, n));
  if (c.kind !== "connect") throw new Error("no connect reply");
  n = udp.handle(
    udpStartedAnnounce([c.connectionIdHi, c.connectionIdLo], {
      transactionId: 2,
      infoHash: HASH,
      peerId: "u".repeat(20),
      port,
    }),
    "127.0.0.1",
    out,
  );
  assert.equal(parseUdpReply(out.slice(0, n)).kind, "announce");
}

Deno.test("counters follow announces and scrapes over HTTP and UDP; gauges follow the swarms", async () => {
  // /metrics is read right after each change: not served from the page cache.
  await using hefur = await startTestHefur({
    udpPort: freePort("udp"),
    pageCache: 0,
    pageRenderBudget: 0,
  });
  const base = httpBase(hefur);
  const before = await scrapeMetrics(`${base}/metrics`);
  assert.equal(value(before, 'hefur_announces_total{protocol="http",result="ok"}'), 0);
  assert.equal(value(before, "hefur_torrents"), 0);

  await getBencoded(announceUrl(base, 7001));
  await getBencoded(announceUrl(base, 7002));
  await getBencoded(`${base}/announce?info_hash=short`); // a bad query: failure
  await getBencoded(`${base}/scrape?info_hash=${pct(HASH)}`);
  udpAnnounce(hefur, 7003);

  const s = await scrapeMetrics(`${base}/metrics`);
  assert.equal(value(s, 'hefur_announces_total{protocol="http",result="ok"}'), 2);
  assert.equal(value(s, 'hefur_announces_total{protocol="http",result="failure"}'), 1);
  assert.equal(value(s, 'hefur_scrapes_total{protocol="http",result="ok"}'), 1);
  assert.equal(value(s, 'hefur_announces_total{protocol="udp",result="ok"}'), 1);
  assert.equal(value(s, 'hefur_announces_total{protocol="udp",result="failure"}'), 0);
  assert.equal(value(s, 'hefur_errors_total{kind="http_bad_query"}'), 1);
  assert.equal(value(s, 'hefur_udp_packets_total{direction="in"}'), 2);
  assert.equal(value(s, "hefur_torrents"), 1);
  assert.equal(value(s, 'hefur_peers{state="leecher"}'), 2);
  assert.equal(value(s, 'hefur_peers{state="seeder"}'), 1);
  assert.equal(value(s, 'hefur_peers_by_family{family="ipv4"}'), 3);
  // Every HTTP request so far was timed: the first /metrics, 4 tracker requests (this /metrics
  // request is still being handled).
  assert.equal(value(s, 'hefur_request_duration_seconds_count{protocol="http"}'), 5);
  assert.ok(value(s, "process_resident_memory_bytes") > 1_000_000);
  assert.ok(value(s, 'hefur_memory_bytes{kind="heapUsed"}') > 0);
  assert.ok(value(s, "hefur_uptime_seconds") >= 0);
  assert.equal(value(s, `hefur_build_info{version="${VERSION}"}`), 1);

  // Whitelist mode: an unknown torrent is refused, and counted by kind.
  hefur.tracker.options.open = false;
  await getBencoded(announceUrl(base, 7004, "\x08".repeat(20)));
  const after = await scrapeMetrics(`${base}/metrics`);
  assert.equal(value(after, 'hefur_errors_total{kind="torrent_not_found"}'), 1);
  assert.equal(value(after, 'hefur_announces_total{protocol="http",result="failure"}'), 2);
});

Deno.test("--disable-metrics: /metrics is not served", async () => {
  await using hefur = await startTestHefur({ disableMetrics: true });
  const res = await fetch(`${httpBase(hefur)}/metrics`);
  await res.body?.cancel();
  assert.equal(res.status, 404);
  assert.equal(hefur.metrics, undefined);
});

Deno.test("--metrics-bind: /metrics on its own listener, and only there", async () => {
  const port = freePort();
  await using hefur = await startTestHefur({ metricsBind: `127.0.0.1:${port}` });
  const pub = await fetch(`${httpBase(hefur)}/metrics`);
  await pub.body?.cancel();
  assert.equal(pub.status, 404);
  assert.equal(hefur.metricsHttp!.addr.port, port);
  await getBencoded(announceUrl(httpBase(hefur), 7001));
  const s = await scrapeMetrics(`http://127.0.0.1:${port}/metrics`);
  assert.equal(value(s, 'hefur_announces_total{protocol="http",result="ok"}'), 1);
  // The metrics listener serves nothing else.
  const other = await fetch(`http://127.0.0.1:${port}/announce`);
  await other.body?.cancel();
  assert.equal(other.status, 404);
});

Deno.test("the control socket's metrics command; --metrics-bind control serves nothing over HTTP", async () => {
  const metricsOf = async (hefur: Hefur) => {
    const handle = controlHandler({ hefur, startedAt: Date.now(), stop: () => {} });
    return parseMetrics(((await handle("metrics", {})) as MetricsResult).text);
  };
  {
    await using hefur = await startTestHefur({ metricsBind: "control" });
    const pub = await fetch(`${httpBase(hefur)}/metrics`);
    await pub.body?.cancel();
    assert.equal(pub.status, 404);
    assert.equal(hefur.metricsHttp, undefined);
    await getBencoded(announceUrl(httpBase(hefur), 7001));
    const s = await metricsOf(hefur);
    assert.equal(value(s, 'hefur_announces_total{protocol="http",result="ok"}'), 1);
  }
  {
    await using hefur = await startTestHefur({ disableMetrics: true });
    await assert.rejects(metricsOf(hefur), (e) => {
      assert.ok(e instanceof ControlError);
      assert.equal(e.code, "unavailable");
      return true;
    });
  }
});

Deno.test("--metrics-bind takes ADDR:PORT or control, and contradicts --disable-metrics", () => {
  assert.equal(parseServeArgs(["--metrics-bind", "[::1]:9469"]).metricsBind, "[::1]:9469");
  assert.equal(parseServeArgs(["--metrics-bind", "control"]).metricsBind, "control");
  for (const bad of ["9469", "localhost:9469", "::1:9469", "127.0.0.1:70000", "[127.0.0.1]:1"]) {
    assert.throws(() => parseServeArgs(["--metrics-bind", bad]), UsageError, bad);
  }
  assert.throws(
    () => parseServeArgs(["--metrics-bind", "127.0.0.1:9469", "--disable-metrics"]),
    /contradict/,
  );
});

Deno.test("whitelist walks are counted and timed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-metrics-" });
  try {
    await using hefur = await startTestHefur({ torrentDir: dir });
    const s = await scrapeMetrics(`${httpBase(hefur)}/metrics`);
    // The first walk, done before startHefur resolved.
    assert.equal(value(s, "hefur_whitelist_scan_duration_seconds_count"), 1);
    assert.equal(value(s, 'hefur_whitelist_scan_duration_seconds_bucket{le="+Inf"}'), 1);
    assert.equal(value(s, "hefur_whitelist_files"), 0);
    assert.equal(value(s, "hefur_whitelist_scan_truncated"), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
