// Shared test helpers: a Hefur on loopback with free ports, and small HTTP/bencode utilities.
import { parseServeArgs, type ServeConfig } from "../src/cli/args.ts";
import { type Hefur, startHefur } from "../src/app.ts";
import { decode } from "../src/protocol/bencode.ts";

/** A serve configuration for tests: defaults, loopback, free ports, nothing on disk. */
export function testConfig(overrides: Partial<ServeConfig> = {}): ServeConfig {
  return {
    ...parseServeArgs([]),
    bindAddr: "127.0.0.1",
    httpPort: 0,
    httpsPort: 0,
    udpPort: 0,
    controlSocket: "",
    ...overrides,
  };
}

/**
 * A port that was free a moment ago (port 0 means "disabled" to Hefur, as in the original, so tests
 * ask the system for a free one first).
 */
export function freePort(transport: "tcp" | "udp" = "tcp", hostname = "127.0.0.1"): number {
  if (transport === "udp") {
    const s = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    const port = (s.addr as Deno.NetAddr).port;
    s.close();
    return port;
  }
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Starts Hefur for a test with HTTP on a free port (other listeners off unless `overrides` set
 * their ports); close it with `await using` or `await hefur.close()`.
 */
export async function startTestHefur(
  overrides: Partial<ServeConfig> = {},
): Promise<Hefur & AsyncDisposable> {
  const hefur = await startHefur(testConfig({ httpPort: freePort(), ...overrides }));
  return Object.assign(hefur, { [Symbol.asyncDispose]: () => hefur.close() });
}

/** Base URL of the HTTP listener of a test Hefur. */
export function httpBase(hefur: Hefur): string {
  const { hostname, port } = hefur.http!.addr;
  return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** Percent-encodes every byte of a binary string (as BitTorrent clients do for info_hash). */
export function pct(binary: string): string {
  let s = "";
  for (let i = 0; i < binary.length; i++) {
    s += "%" + binary.charCodeAt(i).toString(16).padStart(2, "0");
  }
  return s;
}

/** GETs a URL and decodes the bencoded body. */
export async function getBencoded(url: string): Promise<Map<string, unknown>> {
  const res = await fetch(url);
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return decode(body) as Map<string, unknown>;
}

/** Text of a bencoded byte string. */
export function text(v: unknown): string {
  return new TextDecoder().decode(v as Uint8Array);
}

/** Sends raw bytes over TCP and returns everything the server sends back until it closes. */
export async function rawHttp(
  port: number,
  request: string,
  hostname = "127.0.0.1",
): Promise<string> {
  const conn = await Deno.connect({ hostname, port });
  await conn.write(new TextEncoder().encode(request));
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } catch {
    // reset by peer: return what arrived
  }
  try {
    conn.close();
  } catch { /* closed */ }
  return new TextDecoder("latin1").decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}
