// One name for one count: the requests answered with a failure reason are "refused" on /stat, in
// the JSON API and in `hefur ctl status` alike.
import assert from "node:assert/strict";
import { controlHandler } from "../src/control/commands.ts";
import type { StatusResult } from "../src/control/protocol.ts";
import { statusText } from "../src/cli/ctl.ts";
import { httpBase, pct, startTestHefur } from "./helpers.ts";

Deno.test("a refused announce is counted as refused on /stat, in the JSON API and by ctl status", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hefur-refused-" });
  try {
    await using hefur = await startTestHefur({ torrentDir: dir });
    const base = httpBase(hefur);
    // Whitelist mode, a torrent that is not in the directory: answered with a failure reason.
    const reply = await (await fetch(
      `${base}/announce?info_hash=${pct("\x07".repeat(20))}&peer_id=${"-RF0001-".padEnd(20, "x")}` +
        "&port=6881&left=0&uploaded=0&downloaded=0",
    )).text();
    assert.match(reply, /failure reason/);

    const stat = await (await fetch(`${base}/stat`)).text();
    assert.match(stat, /<span id="failures">1<\/span> refused/);

    const api = await (await fetch(`${base}/api/stats.json`)).json();
    assert.equal(api.tracker.refused.requests, 1);
    assert.equal(api.tracker.failures, 1, "the first name, kept for scripts");

    const status = await controlHandler({ hefur, startedAt: Date.now(), stop: () => {} })(
      "status",
      {},
    ) as StatusResult;
    assert.equal(status.requests.refused, 1);
    assert.match(statusText(status), /^requests: +1 announce, 0 scrapes, 1 refused$/m);
    assert.doesNotMatch(statusText(status), /failure/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
