// A short soak: bench/soak.ts for 20 s at a quarter of its rates against a `hefur serve`
// process. Every request must get its right answer and every counter must match; memory is
// judged only by the full run (`deno task soak`).
import assert from "node:assert/strict";

Deno.test("soak, short: mixed load over HTTP, UDP, pages and ctl; counters match, no error", async () => {
  const script = new URL("../bench/soak.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      script,
      "--seconds",
      "20",
      "--rate",
      "0.25",
      "--torrents",
      "20",
      "--peers",
      "50",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The run ends by itself after 20 s (and its last checks); this only guards against a hang.
  // SIGTERM, so that the soak stops its server before it exits.
  const guard = setTimeout(() => {
    try {
      child.kill("SIGTERM");
    } catch { /* ended */ }
  }, 120_000);
  const out = await child.output();
  clearTimeout(guard);
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /^soak: ok$/m);
  assert.doesNotMatch(text, /✗|error:/, text);
  assert.ok((text.match(/✓/g) ?? []).length >= 17, text);
});
