/**
 * Real WebTorrent clients complete a download through Hefur's WebSocket tracker: two WebTorrent
 * instances (the published browser bundle, which carries the `bittorrent-tracker` client) in
 * headless Chromium, one seeding a file, the other fetching it by magnet link. They can only find
 * each other through Hefur: offers, answers, then WebRTC between them.
 *
 * Chromium never offers loopback ICE candidates, so WebRTC needs a real interface address. To keep
 * every packet on addresses the test owns, the browsers, Hefur and the page server run in a
 * network namespace made for the run (`unshare -n`: loopback plus a veth pair, nothing routed
 * out), with no STUN servers and no mDNS; a PID namespace as well, so that no Chromium helper
 * process outlives the run. Needs root, `unshare`, `ip`, Chromium, and `npm` to
 * fetch the bundle (pinned below) from the registry; skipped otherwise.
 */
import { strict as assert } from "node:assert/strict";
import { CHROMIUM } from "../support/chromium.ts";

const WEBTORRENT = "webtorrent@3.0.21";

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Unpacks the WebTorrent browser bundle into `dir`; returns its path, or undefined. */
async function fetchBundle(dir: string): Promise<string | undefined> {
  try {
    const pack = await new Deno.Command("npm", {
      args: ["pack", WEBTORRENT, "--silent"],
      cwd: dir,
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!pack.success) return undefined;
    const tgz = new TextDecoder().decode(pack.stdout).trim().split("\n").pop()!;
    const ok = await succeeds("tar", ["xzf", `${dir}/${tgz}`, "-C", dir, "package/dist"]);
    return ok ? `${dir}/package/dist/webtorrent.min.js` : undefined;
  } catch {
    return undefined;
  }
}

const canRun = Deno.uid() === 0 && (await succeeds(CHROMIUM, ["--version"])) &&
  (await succeeds("unshare", ["-n", "-p", "-f", "true"])) && (await succeeds("ip", ["-V"]));
const work = canRun ? await Deno.makeTempDir({ prefix: "hefur_webtorrent_" }) : "";
const bundle = canRun ? await fetchBundle(work) : undefined;
if (work !== "" && bundle === undefined) await Deno.remove(work, { recursive: true });

/** Inside the namespace: loopback up, one veth end with an address, then the browsers' run. */
const SETUP = [
  "ip link set lo up",
  "ip link add hefur0 type veth peer name hefur1",
  "ip addr add 192.0.2.10/24 dev hefur0",
  "ip link set hefur1 up",
  "ip link set hefur0 up",
  // Chromium gathers candidates only on a network with a default route; it ends in the veth pair.
  "ip route add default dev hefur0",
  'exec "$0" run --allow-all "$1" "$2"',
].join(" && ");

Deno.test({
  name:
    "WebTorrent in Chromium: one browser seeds, another downloads, through the WebSocket tracker",
  ignore: bundle === undefined,
  async fn() {
    try {
      const inner = new URL("./webtorrent_browsers.ts", import.meta.url).pathname;
      const child = new Deno.Command("unshare", {
        args: [
          "-n",
          "-p",
          "-f",
          "--kill-child",
          "sh",
          "-c",
          SETUP,
          Deno.execPath(),
          inner,
          bundle!,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // The inner run bounds itself (60 s for the page, 5 s for Chromium to stop); this is a
      // backstop so a hang can never outlive the test.
      const backstop = setTimeout(() => child.kill("SIGKILL"), 120_000);
      const out = await child.output();
      clearTimeout(backstop);
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      const line = stdout.trim().split("\n").pop() ?? "";
      let report: Record<string, unknown>;
      try {
        report = JSON.parse(line);
      } catch {
        throw new Error(`no report from the browsers' run:\n${stdout}\n${stderr}`);
      }
      const shown = JSON.stringify(report, null, 1);
      assert.equal(report.error, undefined, shown);
      assert.equal(report.ok, true, shown);
      assert.equal(report.length, 300000);
      // They met through Hefur: offers out, an answer back, one WebSocket swarm of two peers,
      // and no UDP/HTTP swarm.
      const counters = report.counters as Record<string, number>;
      assert.ok(counters.offers >= 1, shown);
      assert.ok(counters.answers >= 1, shown);
      const swarms = report.swarms as { infoHash: string; size: number }[];
      assert.deepEqual(swarms.map((s) => [s.infoHash, s.size]), [[report.infoHash, 2]], shown);
      assert.equal(report.udpHttpTorrents, 0);
      assert.equal(out.success, true, stderr);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
