/**
 * Sums the self time of each function in a V8 CPU profile (written by `deno run --cpu-prof`), to
 * find the hot spots of the tracker under load.
 *
 * Run: `deno run --allow-read bench/profile_summary.ts PROFILE.cpuprofile [TOP]`.
 *
 * @module
 */

/** One node of the profile's call tree (only the fields used here). */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** A `.cpuprofile` file: the call tree, then one sample (node id) per tick. */
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time in microseconds per function, heaviest first. */
export function selfTimes(profile: CpuProfile): [name: string, micros: number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    if (node === undefined) continue;
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/(src|bench|node_modules|ext)\//, "$1/");
    const name = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    // A sample's time is the delta to the next one.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    totals.set(name, (totals.get(name) ?? 0) + dt);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

if (import.meta.main) {
  const [path, top = "30"] = Deno.args;
  if (path === undefined) {
    console.error("usage: profile_summary.ts PROFILE.cpuprofile [TOP]");
    Deno.exit(2);
  }
  const times = selfTimes(JSON.parse(await Deno.readTextFile(path)));
  const total = times.reduce((s, [, t]) => s + t, 0);
  const idle = times.filter(([n]) => n.startsWith("(idle)")).reduce((s, [, t]) => s + t, 0);
  console.log(
    `total ${(total / 1000).toFixed(0)} ms, busy ${((total - idle) / 1000).toFixed(0)} ms`,
  );
  for (const [name, t] of times.slice(0, Number(top))) {
    const share = (100 * t / (total - idle)).toFixed(1).padStart(5);
    console.log(`${share}% ${(t / 1000).toFixed(1).padStart(8)} ms  ${name}`);
  }
}
