/**
 * One page attacker of bench/page_load_bench.ts, in a worker thread: loops as fast as Hefur
 * answers, each round a new connection carrying a pipelined batch of `/stat` pages (several of
 * them, gzip or not), `/api/stats.json` and `/metrics`, the last request asking to close. Its
 * address is the `X-Real-IP` the trusted proxy (127.0.0.1) passes on.
 *
 * Messages out: `"ready"` once loaded; then, given `{ port, ip, connections, until }` (`until`: a
 * `Date.now()` deadline), `{ requests, ok, refused, busy, bytes }` once the deadline passed.
 *
 * @module
 */

interface Job {
  port: number;
  ip: string;
  connections: number;
  until: number;
}

const TARGETS = [
  "/stat",
  "/stat?page=2",
  "/stat?page=3",
  "/stat?page=4",
  "/stat?page=5",
  "/api/stats.json",
  "/api/stats.json?page=2",
  "/metrics",
];
const BATCH = 20;

function batch(ip: string, round: number): Uint8Array {
  let text = "";
  for (let i = 0; i < BATCH; i++) {
    const target = TARGETS[(round + i) % TARGETS.length];
    const gzip = (round + i) % 2 === 0 ? "Accept-Encoding: gzip\r\n" : "";
    const close = i === BATCH - 1 ? "Connection: close\r\n" : "";
    text +=
      `GET ${target} HTTP/1.1\r\nHost: tracker.example\r\nX-Real-IP: ${ip}\r\n${gzip}${close}\r\n`;
  }
  return new TextEncoder().encode(text);
}

async function loop(job: Job, totals: Record<string, number>): Promise<void> {
  const buf = new Uint8Array(1 << 16);
  const decoder = new TextDecoder("latin1");
  for (let round = 0; Date.now() < job.until; round++) {
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: job.port });
    } catch {
      continue;
    }
    const timer = setTimeout(() => conn.close(), Math.max(1, job.until - Date.now()));
    try {
      await conn.write(batch(job.ip, round));
      totals.requests += BATCH;
      let n: number | null;
      while ((n = await conn.read(buf)) !== null) {
        totals.bytes += n;
        // Status lines, counted by class; page bodies never hold "HTTP/1.1 " themselves.
        for (const m of decoder.decode(buf.subarray(0, n)).matchAll(/HTTP\/1\.1 (\d)(\d\d)/g)) {
          if (m[1] === "2") totals.ok++;
          else if (m[1] + m[2] === "429") totals.refused++;
          else if (m[1] + m[2] === "503") totals.busy++;
        }
      }
    } catch { /* closed by the deadline or by Hefur */ }
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** The worker's global scope (the default type library describes a window). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<Job>) => void;
  postMessage(value: unknown): void;
  close(): void;
};

scope.onmessage = async (e) => {
  const job = e.data;
  const totals = { requests: 0, ok: 0, refused: 0, busy: 0, bytes: 0 };
  await Promise.all(Array.from({ length: job.connections }, () => loop(job, totals)));
  scope.postMessage(totals);
  scope.close();
};
scope.postMessage("ready");
