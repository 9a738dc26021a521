// The GitHub Actions workflows cannot drift from the code: the release builds with build.ts and
// the Deno of src/platform.ts, tests every target of src/platform.ts on its own runner with
// tests/release_smoke_test.ts before publishing anything, and publishes what build.ts writes;
// the CI runs .ci/run. Read with a YAML parser, as GitHub reads them.
import assert from "node:assert/strict";
import { parse } from "yaml";
import { outputPath, probePath, TARGETS } from "../build.ts";
import denoJson from "../deno.json" with { type: "json" };
import { DENO_VERSION, TARGET_TABLE } from "../src/platform.ts";

const ROOT = new URL("..", import.meta.url);

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  id?: string;
}
interface Job {
  needs?: string | string[];
  "runs-on": string;
  container?: string;
  strategy?: { matrix: { include: Record<string, string>[] } };
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
}

async function workflow(name: string): Promise<{ text: string; yaml: Workflow }> {
  const text = await Deno.readTextFile(new URL(`.github/workflows/${name}`, ROOT));
  return { text, yaml: parse(text, { strict: true, uniqueKeys: true }) as Workflow };
}

const release = await workflow("release.yml");
const ci = await workflow("ci.yml");
const jobs = release.yaml.jobs;
const needs = (job: Job) => [job.needs ?? []].flat();
const runs = (job: Job) => job.steps.map((s) => s.run ?? "").join("\n");

/** The step of `job` whose `run` matches `pattern`; fails when there is not exactly one. */
function stepRunning(job: Job, pattern: RegExp): Step {
  const found = job.steps.filter((s) => s.run !== undefined && pattern.test(s.run));
  assert.equal(found.length, 1, `one step runs ${pattern}`);
  return found[0];
}

/** The steps of `job` that use the action `name` (owner/repo). */
function using(job: Job, name: string): Step[] {
  return job.steps.filter((s) => s.uses?.startsWith(`${name}@`));
}

Deno.test("the release runs on a version tag only, checked against deno.json's version", () => {
  assert.deepEqual(release.yaml.on, { push: { tags: ["v*"] } });
  const check = stepRunning(jobs.build, /deno\.json/);
  assert.match(check.run!, /"v\$version" != "\$GITHUB_REF_NAME"/);
  assert.match(check.run!, /exit 1/);
  assert.match(denoJson.version, /^\d+\.\d+\.\d+$/);
});

Deno.test("every action is pinned to a commit, and nothing asks for more than reading by default", () => {
  for (const { text, yaml } of [release, ci]) {
    for (const job of Object.values(yaml.jobs)) {
      for (const step of job.steps) {
        if (step.uses) assert.match(step.uses, /^[\w-]+\/[\w-]+@[0-9a-f]{40}$/, step.uses);
      }
    }
    assert.deepEqual(yaml.permissions, { contents: "read" });
    // The version each pin stands for, for the reader (and for updates).
    for (const line of text.split("\n").filter((l) => /uses: /.test(l))) {
      assert.match(line, /@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, line);
    }
  }
});

Deno.test("Deno is the version of src/platform.ts everywhere it is installed", async () => {
  const places = {
    "release.yml": release.text,
    "ci.yml": ci.text,
    ".ci/run": await Deno.readTextFile(new URL(".ci/run", ROOT)),
    "README.md": await Deno.readTextFile(new URL("README.md", ROOT)),
  };
  for (const [name, text] of Object.entries(places)) {
    const versions = [...text.matchAll(/\bdeno@([\w.-]+)/g)].map((m) => m[1]);
    for (const v of versions) assert.equal(v, DENO_VERSION, `${name}: deno@${v}`);
    assert.doesNotMatch(text, /setup-deno/, `${name} installs Deno with npx, as .ci/run does`);
  }
  assert.ok(/\bdeno@/.test(places["release.yml"]) && /\bdeno@/.test(places[".ci/run"]));
});

Deno.test("the release builds every target with build.ts, nothing else compiles", () => {
  const build = stepRunning(jobs.build, /task build/);
  assert.equal(build.run, `npx -y deno@${DENO_VERSION} task build --release`);
  // The sandbox and V8 flags are build.ts's alone (tests/build_test.ts checks what it compiles);
  // the build task adds none.
  assert.equal(denoJson.tasks.build, "deno run --allow-all build.ts");
  for (const job of Object.values(jobs)) assert.doesNotMatch(runs(job), /\bcompile\b/);
  const [upload] = using(jobs.build, "actions/upload-artifact");
  assert.deepEqual(upload.with, {
    name: "dist",
    path: "dist/",
    "if-no-files-found": "error",
    "retention-days": 7,
  });
});

Deno.test("each target's executable runs the smoke test on its own runner", () => {
  const smoke = jobs.smoke;
  assert.deepEqual(needs(smoke), ["build"]);
  assert.equal(smoke["runs-on"], "${{ matrix.runner }}");
  assert.deepEqual(
    smoke.strategy!.matrix.include,
    TARGET_TABLE.map((t) => ({ target: t.target, runner: t.runner })),
  );
  assert.deepEqual(smoke.strategy!.matrix.include.map((m) => m.target), TARGETS);
  const [download] = using(smoke, "actions/download-artifact");
  assert.deepEqual(download.with, { name: "dist", path: "dist" });

  const test = stepRunning(smoke, /release_smoke_test/);
  assert.equal(
    test.run,
    `npx -y deno@${DENO_VERSION} test --allow-all tests/release_smoke_test.ts`,
  );
  const target = "${{ matrix.target }}";
  assert.deepEqual(test.env, {
    HEFUR_BIN: outputPath("dist", target, true),
    HEFUR_SANDBOX_PROBE: probePath("dist", target),
    HEFUR_TARGET: target,
  });
  const ready = stepRunning(smoke, /chmod/);
  assert.match(ready.run!, /shasum -a 256 -c SHA256SUMS/);
  assert.ok(
    ready.run!.includes(`chmod +x "${test.env.HEFUR_BIN}" "${test.env.HEFUR_SANDBOX_PROBE}"`),
  );
});

Deno.test("the image packs the Linux executables for their platforms, tested before it is pushed", () => {
  const image = jobs.image;
  assert.ok(needs(image).includes("smoke"), "no image before every smoke test passed");
  const platforms = TARGET_TABLE.filter((t) => t.containerPlatform)
    .map((t) => `${t.containerPlatform}=${t.target}`);
  assert.deepEqual(image.env!.PLATFORMS.split(" "), platforms);
  assert.deepEqual(platforms, [
    "linux/amd64=x86_64-unknown-linux-gnu",
    "linux/arm64=aarch64-unknown-linux-gnu",
  ]);
  // deploy/Containerfile copies dist/hefur: each platform's context has its own.
  const contexts = stepRunning(image, /for pair in \$PLATFORMS.*\n(?:.*\n)*.*install -m 0755/);
  assert.match(
    contexts.run!,
    /install -m 0755 "dist\/hefur-\$\{pair#\*=\}" "\$context\/dist\/hefur"/,
  );
  const tested = stepRunning(image, /--load/);
  assert.match(tested.run!, /-f deploy\/Containerfile/);
  assert.match(tested.run!, /hefur ctl status/);
  assert.match(tested.run!, /test "\$code" = 0/);

  const push = stepRunning(image, /push=true/);
  const steps = image.steps;
  assert.ok(steps.indexOf(tested) < steps.indexOf(push), "tested before pushed");
  assert.match(push.run!, /-f deploy\/Containerfile/);
  assert.match(push.run!, /image="ghcr\.io\/\$\{GITHUB_REPOSITORY_OWNER,,\}\/hefur"/);
  assert.match(push.run!, /-t "\$image:\$\{GITHUB_REF_NAME#v\}" -t "\$image:latest"/);
  assert.equal(image.permissions!.packages, "write");
  const [attest] = using(image, "actions/attest-build-provenance");
  assert.equal(attest.with!["push-to-registry"], true);
  assert.equal(attest.with!["subject-digest"], `\${{ steps.${push.id}.outputs.digest }}`);
});

Deno.test("the release publishes what build.ts wrote, attested, after every test passed", () => {
  const job = jobs.release;
  assert.deepEqual(needs(job).sort(), ["build", "image", "smoke"]);
  assert.deepEqual(job.permissions, {
    contents: "write",
    "id-token": "write",
    attestations: "write",
  });
  const [attest] = using(job, "actions/attest-build-provenance");
  assert.deepEqual(attest.with, { "subject-checksums": "dist/SHA256SUMS" });
  const publish = stepRunning(job, /gh release create/);
  const steps = job.steps;
  assert.ok(steps.indexOf(attest) < steps.indexOf(publish), "attested before published");
  // The executables build.ts names for a release, and their checksums.
  assert.equal(outputPath("dist", TARGETS[0], true), `dist/hefur-${TARGETS[0]}`);
  assert.match(publish.run!.trimEnd(), /dist\/hefur-\* dist\/SHA256SUMS$/);
  assert.doesNotMatch(publish.run!, /probes/, "the probes are for the tests only");
});

Deno.test("CI runs .ci/run on every push and pull request", () => {
  assert.deepEqual(Object.keys(ci.yaml.on).sort(), ["pull_request", "push"]);
  const [job] = Object.values(ci.yaml.jobs);
  assert.equal(stepRunning(job, /\.ci\/run/).run, "bash .ci/run");
  // The checkout needs git for the build commit tests/build_test.ts checks.
  const steps = job.steps;
  const tools = stepRunning(job, /apt-get install/);
  assert.ok(steps.indexOf(tools) < steps.indexOf(using(job, "actions/checkout")[0]));
  assert.match(tools.run!, /\bgit\b/);
  assert.match(tools.run!, /\bnpm\b/);
});

Deno.test("README: Download first, then From source; its target table is src/platform.ts's", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(headings.slice(0, 2), ["Download", "From source"]);
  const download = readme.slice(readme.indexOf("## Download"), readme.indexOf("## From source"));
  assert.match(download, /sha256sum -c --ignore-missing SHA256SUMS/);
  assert.match(download, /docker run .* ghcr\.io\/OWNER\/hefur`/);
  const rows = [...readme.matchAll(/^\| `([\w-]+)` +\| [^|]+\| ([^|]+?) +\|$/gm)];
  assert.deepEqual(rows.map((r) => r[1]), TARGETS);
  for (const [, target, missing] of rows) {
    const lacks = TARGET_TABLE.find((t) => t.target === target)!.missing.length > 0;
    assert.equal(missing !== "nothing", lacks, `${target}: ${missing}`);
  }
  assert.doesNotMatch(readme, /windows-msvc/);
});
