/**
 * The JavaScript work of one UDP announce, without sockets: {@linkcode UdpServer.handle} fed the
 * traffic of the load generator (bench/loadgen.c): 100,000 peers over 1,000 torrents, each asking
 * for 50 peers. It prints µs of CPU per announce (CPU time, so that a shared core does not inflate
 * it), the median of 5 rounds after the swarms are full.
 *
 * What `deno task bench` measures over loopback is this plus Deno's receive and send, but not only:
 * there the kernel's network path shares the core's caches with the tracker, and the same work
 * costs 1.5 to 2 times as much (see the breakdown line of `deno task bench`). This benchmark is the
 * steady one to compare code changes with.
 *
 * Run: `deno run -A --v8-flags=--max-semi-space-size=2 bench/udp_handle_bench.ts [--seconds=S]`
 * (`deno task bench` runs it in its full form).
 *
 * @module
 */
import process from "node:process";
import { benchServer, PACKETS, steadyState } from "./udp_traffic.ts";

const seconds = Number(Deno.args.find((a) => a.startsWith("--seconds="))?.slice(10) ?? 3);
const server = benchServer();
const { random, handle } = steadyState(server);
let sink = 0;
const rounds: number[] = [];
for (let round = 0; round < 5; round++) {
  let n = 0;
  // CPU time, not wall time: on a shared machine it leaves out the time others had the core.
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000 / 5;
  while (performance.now() < end) {
    for (let i = 0; i < 4096; i++) {
      sink ^= handle(random[(n + i) & (PACKETS - 1)]);
    }
    n += 4096;
  }
  const cpu = process.cpuUsage(cpu0);
  const us = (cpu.user + cpu.system) / n;
  rounds.push(us);
}
const median = rounds.sort((a, b) => a - b)[2];
console.log(
  `handle(announce): ${median.toFixed(3)} µs (median of 5), ${
    Math.round(1e6 / median).toLocaleString("en")
  }/s`,
);
if (server.counters.replies !== 0 || sink === 0.5) console.log(server.counters);
