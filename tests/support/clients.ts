/**
 * Small clients for tests of admission and official seeds against a live Hefur: HTTP announces
 * and scrapes, a BEP 15 UDP exchange, and a WebSocket that queues messages. Every wait is bounded.
 */
import { decode } from "../../src/protocol/bencode.ts";
import {
  encodeUdpRequest,
  parseUdpReply,
  type UdpAnnounceRequest,
  type UdpReply,
} from "../../src/protocol/udp_packet.ts";
import { AnnounceEvent } from "../../src/protocol/types.ts";
import { pct } from "../helpers.ts";

const WAIT_MS = 3000;

/** Fields of an HTTP announce; unset ones get sensible values. */
export interface HttpAnnounce {
  infoHash: string;
  port: number;
  left?: number;
  event?: "started" | "completed" | "stopped";
  peerId?: string;
  numwant?: number;
}

/** GETs `/announce` and decodes the reply (a Map of keys to values). */
export async function httpAnnounce(base: string, a: HttpAnnounce): Promise<Map<string, unknown>> {
  const peerId = a.peerId ?? `-TT0001-${a.port}`.padEnd(20, "x");
  let q = `info_hash=${pct(a.infoHash)}&peer_id=${pct(peerId)}&port=${a.port}` +
    `&uploaded=0&downloaded=0&left=${a.left ?? 100}&compact=1`;
  if (a.event !== undefined) q += `&event=${a.event}`;
  if (a.numwant !== undefined) q += `&numwant=${a.numwant}`;
  return await getDecoded(`${base}/announce?${q}`);
}

/** GETs `/scrape` for one hash. */
export function httpScrape(base: string, infoHash: string): Promise<Map<string, unknown>> {
  return getDecoded(`${base}/scrape?info_hash=${pct(infoHash)}`);
}

async function getDecoded(url: string): Promise<Map<string, unknown>> {
  const res = await fetch(url);
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return decode(body) as Map<string, unknown>;
}

/** The failure reason of a decoded reply, or undefined. */
export function failureOf(reply: Map<string, unknown>): string | undefined {
  const r = reply.get("failure reason");
  return r === undefined ? undefined : new TextDecoder().decode(r as Uint8Array);
}

/**
 * The bytes of a BEP 15 `started` announce on the connection `connectionId` (its two halves), with
 * `fields` given; the rest are zero (counts, ip, key) or -1 (numwant: the tracker's default).
 */
export function udpStartedAnnounce(
  connectionId: readonly [number, number],
  fields:
    & Pick<UdpAnnounceRequest, "transactionId" | "infoHash" | "peerId" | "port">
    & Partial<UdpAnnounceRequest>,
): Uint8Array {
  return encodeUdpRequest({
    kind: "announce",
    connectionIdHi: connectionId[0],
    connectionIdLo: connectionId[1],
    downloaded: 0,
    left: 0,
    uploaded: 0,
    event: AnnounceEvent.Started,
    ip: 0,
    key: 0,
    numwant: -1,
    ...fields,
  });
}

/** A UDP client socket on 127.0.0.1 talking to one server port. */
export class UdpClient implements Disposable {
  readonly conn: Deno.DatagramConn;
  readonly #server: Deno.NetAddr;
  readonly #buf = new Uint8Array(65536);

  constructor(port: number) {
    this.conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    this.#server = { transport: "udp", hostname: "127.0.0.1", port };
  }

  /** Sends `bytes` and returns the raw reply. */
  async exchange(bytes: Uint8Array): Promise<Uint8Array> {
    await this.conn.send(bytes, this.#server);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const [data] = await Promise.race([
        this.conn.receive(this.#buf),
        new Promise<never>((_, no) => timer = setTimeout(() => no(new Error("no reply")), WAIT_MS)),
      ]);
      return data.slice();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Connects; returns the connection id halves, or the error reply. */
  async connect(): Promise<[number, number] | UdpReply> {
    const r = parseUdpReply(
      await this.exchange(encodeUdpRequest({ kind: "connect", transactionId: 1 })),
    );
    return r.kind === "connect" ? [r.connectionIdHi, r.connectionIdLo] : r;
  }

  [Symbol.dispose](): void {
    this.conn.close();
  }
}

/** A WebSocket client that queues what it receives and notices when the server closes it. */
export class WsClient {
  readonly ws: WebSocket;
  readonly #inbox: Record<string, unknown>[] = [];
  #wake?: () => void;
  /** Whether the connection has closed (from either side). */
  closed = false;

  private constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.onmessage = (e) => {
      this.#inbox.push(JSON.parse(e.data as string));
      this.#wake?.();
    };
    this.ws.onclose = () => {
      this.closed = true;
      this.#wake?.();
    };
  }

  /** Opens a connection; rejects when the server refuses the upgrade. */
  static async open(url: string): Promise<WsClient> {
    const c = new WsClient(url);
    await new Promise<void>((resolve, reject) => {
      c.ws.onopen = () => resolve();
      c.ws.onerror = (e) => reject(new Error(`cannot connect: ${(e as ErrorEvent).message}`));
    });
    return c;
  }

  /** Sends `msg` as JSON; a string goes as it is, so tests can send malformed text. */
  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  /** The next message, within a bounded wait; fails at once if the connection closes first. */
  async next(): Promise<Record<string, unknown>> {
    const deadline = Date.now() + WAIT_MS;
    while (this.#inbox.length === 0) {
      if (this.closed) throw new Error("closed while waiting for a message");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no message in time");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    return this.#inbox.shift()!;
  }

  /** How many received messages are not yet taken by `next`. */
  get pending(): number {
    return this.#inbox.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.ws.addEventListener("close", () => resolve()));
    this.ws.close();
    await done;
  }
}
