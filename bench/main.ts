/**
 * `deno task bench`: every benchmark in this folder, one after the other. Files that use
 * `Deno.bench` run under `deno bench`; the others are scripts (load generators, memory and
 * start-up figures) run with `deno run`. Pass file names to run only those.
 *
 * @module
 */

/** Extra `deno run` flags some scripts need. */
const RUN_FLAGS: Record<string, string[]> = {
  "memory_bench.ts": ["--v8-flags=--expose-gc"],
  "whitelist_bench.ts": ["--v8-flags=--expose-gc"],
};

const dir = new URL(".", import.meta.url);
const all = [...Deno.readDirSync(dir)]
  .map((e) => e.name)
  .filter((name) => name.endsWith("_bench.ts"))
  .sort();
const chosen = Deno.args.length > 0 ? all.filter((n) => Deno.args.includes(n)) : all;

let failed = 0;
for (const name of chosen) {
  const path = new URL(name, dir).pathname;
  const source = Deno.readTextFileSync(path);
  const args = source.includes("Deno.bench(")
    ? ["bench", "-A", path]
    : ["run", "-A", ...(RUN_FLAGS[name] ?? []), path];
  console.log(`\n== ${name}`);
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" });
  const { success } = await child.spawn().status;
  if (!success) {
    console.log(`!! ${name} failed`);
    failed++;
  }
}
Deno.exit(failed === 0 ? 0 : 1);
