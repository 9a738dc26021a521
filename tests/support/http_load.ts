// A tiny HTTP/1.1 load client that tells apart a full response, a clean end without a byte, and a
// truncated response: what a graceful stop must never produce.

/** How one request ended. */
export type Outcome =
  /** A complete response: head and `content-length` bytes of body. */
  | { kind: "full"; status: number; body: Uint8Array; keepAlive: boolean }
  /** The connection ended (end of stream or reset) before any byte of a response. */
  | { kind: "empty" }
  /** Some bytes of a response, then the end: never acceptable. */
  | { kind: "truncated"; got: number }
  /** The connection could not be made (the listener is closed). */
  | { kind: "refused" };

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** Reads one response from `conn`, with `pending` bytes already read after the last one. */
export async function readResponse(
  conn: Deno.Conn,
  pending: Uint8Array,
): Promise<[Outcome, Uint8Array]> {
  let data = pending;
  const buf = new Uint8Array(65536);
  let need = -1;
  let headLength = 0;
  let status = 0;
  let keepAlive = false;
  for (;;) {
    if (need < 0) {
      const text = latin1.decode(data);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        headLength = end + 4;
        const head = text.slice(0, end);
        status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0);
        need = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        keepAlive = /\r\nconnection: *keep-alive/i.test(head);
      }
    }
    if (need >= 0 && data.length >= headLength + need) {
      const body = data.slice(headLength, headLength + need);
      return [{ kind: "full", status, body, keepAlive }, data.slice(headLength + need)];
    }
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      n = null; // reset
    }
    if (n === null) {
      return [
        data.length === 0 ? { kind: "empty" } : { kind: "truncated", got: data.length },
        data,
      ];
    }
    const grown = new Uint8Array(data.length + n);
    grown.set(data);
    grown.set(buf.subarray(0, n), data.length);
    data = grown;
  }
}

/**
 * Sends `targets` one after the other on one connection (`GET <target>`, keep-alive asked for
 * all but the last), each only if the previous response allowed it; returns how each ended.
 */
export async function exchange(port: number, targets: string[]): Promise<Outcome[]> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return [{ kind: "refused" }];
  }
  const out: Outcome[] = [];
  try {
    let pending: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < targets.length; i++) {
      const last = i === targets.length - 1;
      const head = `GET ${targets[i]} HTTP/1.1\r\nHost: t\r\nConnection: ${
        last ? "close" : "keep-alive"
      }\r\n\r\n`;
      try {
        await conn.write(encoder.encode(head));
      } catch {
        out.push({ kind: "empty" });
        break;
      }
      const [outcome, rest] = await readResponse(conn, pending);
      out.push(outcome);
      pending = rest;
      if (outcome.kind !== "full" || !outcome.keepAlive) break;
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return out;
}
