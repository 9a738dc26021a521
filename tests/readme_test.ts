// The option list in docs/options.md is generated from the options table; they must agree.
import assert from "node:assert/strict";
import { withOptions } from "../src/cli/options_doc.ts";

// `deno fmt` re-aligns Markdown tables, so compare with white space and rule lengths folded.
const fold = (s: string) => s.replace(/-{3,}/g, "---").replace(/\s+/g, " ");

Deno.test("docs/options.md matches the options table", async () => {
  const readme = await Deno.readTextFile(new URL("../docs/options.md", import.meta.url));
  assert.ok(
    fold(withOptions(readme)) === fold(readme),
    "docs/options.md is stale: run `deno run -A src/cli/options_doc.ts --write`",
  );
});

Deno.test("README opens with the two set-up commands", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const head = readme.slice(0, 1500);
  assert.match(head, /npx -y deno@2\.9\.6 task start/);
  assert.match(head, /npx -y deno@2\.9\.6 task test/);
});
