/**
 * Two WebTorrent clients in headless Chromium swap a file through a Hefur started here; run by
 * tests/e2e/webtorrent_test.ts inside a network namespace of its own (see there why).
 *
 * Usage: `deno run -A webtorrent_browsers.ts BUNDLE` where BUNDLE is `webtorrent.min.js`. Prints
 * one JSON line: the page's result, the tracker's WebSocket counters and swarm sizes, the page log.
 * Exits 0 when the leecher got the seeder's bytes.
 */
import { startHefur } from "../../src/app.ts";
import { freePort, testConfig } from "../helpers.ts";
import { CHROMIUM, HEADLESS_FLAGS } from "../support/chromium.ts";

const TIMEOUT_MS = 60_000;

/** The page: two WebTorrent clients, one seeds 300 kB, the other downloads it by magnet link. */
function page(tracker: string): string {
  return `<!doctype html><meta charset="utf-8"><title>hefur webtorrent e2e</title>
<script type="module">
const report = (o) => fetch("/result", { method: "POST", body: JSON.stringify(o) });
const note = (m) => fetch("/log", { method: "POST", body: String(m) });
window.onerror = (m) => report({ ok: false, error: "window: " + m });
// No STUN servers: only host candidates, inside the namespace.
const Native = RTCPeerConnection;
globalThis.RTCPeerConnection = class extends Native {
  constructor(config = {}) {
    super({ ...config, iceServers: [] });
    this.addEventListener("connectionstatechange", () => note("webrtc " + this.connectionState));
    this.addEventListener("iceconnectionstatechange", () => note("ice " + this.iceConnectionState));
  }
  setRemoteDescription(d) {
    note("remote " + d.type + ": " + d.sdp.split("\\r\\n").filter((l) => l.startsWith("a=candidate")).join(" | "));
    return super.setRemoteDescription(d);
  }
};
try {
  const { default: WebTorrent } = await import("/webtorrent.min.js");
  const opts = { dht: false, lsd: false, webSeeds: false, tracker: { rtcConfig: { iceServers: [] } } };
  const seeder = new WebTorrent(opts);
  const leecher = new WebTorrent(opts);
  for (const [name, c] of [["seeder", seeder], ["leecher", leecher]]) {
    c.on("error", (e) => report({ ok: false, error: name + ": " + e }));
    c.on("torrent", (t) => {
      note(name + ": torrent " + t.infoHash);
      t.on("warning", (w) => note(name + " warning: " + w));
      t.on("wire", () => note(name + ": wire"));
    });
  }
  const data = new Uint8Array(300000).map((_, i) => (i * 31 + (i >> 8)) & 255);
  seeder.seed(new File([data], "hefur-e2e.bin"), { announce: ["${tracker}"] }, (seeded) => {
    leecher.add(seeded.magnetURI, { announce: ["${tracker}"] }, (t) => {
      t.on("done", async () => {
        const got = new Uint8Array(await t.files[0].arrayBuffer());
        const same = got.length === data.length && got.every((b, i) => b === data[i]);
        report({ ok: same, infoHash: t.infoHash, length: got.length });
      });
    });
  });
} catch (e) {
  report({ ok: false, error: String((e && e.stack) || e) });
}
</script>`;
}

const [bundlePath] = Deno.args;
const script = await Deno.readFile(bundlePath);
const hefur = await startHefur(testConfig({ httpPort: freePort() }));
const tracker = `ws://127.0.0.1:${hefur.http!.addr.port}/announce`;
const result = Promise.withResolvers<Record<string, unknown>>();
const log: string[] = [];
const site = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/") {
      return new Response(page(tracker), { headers: { "content-type": "text/html" } });
    }
    if (path === "/webtorrent.min.js") {
      return new Response(script, { headers: { "content-type": "text/javascript" } });
    }
    if (path === "/log" && req.method === "POST") {
      if (log.length < 200) log.push(await req.text());
      return new Response("ok");
    }
    if (path === "/result" && req.method === "POST") {
      result.resolve(await req.json());
      return new Response("ok");
    }
    return new Response("not found", { status: 404 });
  },
);
const profile = await Deno.makeTempDir({ prefix: "hefur_chromium_" });
const browser = new Deno.Command(CHROMIUM, {
  args: [
    ...HEADLESS_FLAGS,
    // Host candidates as plain addresses: no mDNS names to resolve.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    `--user-data-dir=${profile}`,
    `http://127.0.0.1:${site.addr.port}/`,
  ],
  stdin: "null",
  stdout: "null",
  stderr: "null",
}).spawn();

let timer: ReturnType<typeof setTimeout> | undefined;
let outcome: Record<string, unknown>;
let swarms: { infoHash: string; size: number; complete: number }[] = [];
try {
  outcome = await Promise.race([
    result.promise,
    new Promise<Record<string, unknown>>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: "no result in 60 s" }), TIMEOUT_MS);
    }),
  ]);
  // Read the swarms while the browsers are still connected.
  swarms = [...hefur.wsTracker.swarms()].map(([hash, s]) => ({
    infoHash: [...hash].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    size: s.size,
    complete: s.complete,
  }));
} finally {
  clearTimeout(timer);
  // SIGTERM lets Chromium take its helper processes down with it; SIGKILL if it hangs.
  browser.kill("SIGTERM");
  const hard = setTimeout(() => browser.kill("SIGKILL"), 5000);
  await browser.status;
  clearTimeout(hard);
  await site.shutdown();
}
console.log(JSON.stringify({
  ...outcome,
  counters: hefur.wsTracker.counters,
  swarms,
  udpHttpTorrents: hefur.tracker.size,
  log,
}));
await hefur.close();
for (let i = 0; i < 20; i++) {
  try {
    await Deno.remove(profile, { recursive: true });
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 100)); // helper processes may still be exiting
  }
}
Deno.exit(outcome.ok === true ? 0 : 1);
