/**
 * The UDP tracker (BEP 15) on `Deno.listenDatagram`: it only translates between datagrams and the
 * tracker core. Parsing and encoding are in `protocol/udp_packet.ts`, connection ids in
 * `connection_id.ts`; what is truly this module's is the packet loop and the rules of who gets an
 * answer.
 *
 * Who gets an answer:
 * - a connect with the protocol id gets a connection id, keyed on the source address (not its
 *   port, see {@linkcode CONNECTION_ID_PORT});
 * - announce and scrape are answered only when their connection id verifies for their source;
 *   a bad id gets nothing (like the original, reference §7.2): an answer would let a spoofed
 *   source use Hefur as a reflector, and a client whose id went stale (Hefur restarted) times out
 *   and connects again, as BEP 15 clients do;
 * - a malformed request whose ids could be read ("sendable") gets an error packet, again only with
 *   a valid connection id, never longer than the request; anything else is dropped silently.
 * - admission (deny list, rate limits) is asked on a connect (a denied network gets an error
 *   packet, no connection id) and on announces and scrapes once their connection id verified, so
 *   a spoofed source can never spend another address's tokens; refusals are error packets, never
 *   longer than the request.
 *
 * IPv4 and IPv6: a request that arrived over IPv4 (including a v4-mapped source on a dual-stack
 * socket) gets IPv4 peers, 6 bytes each; one that arrived over IPv6 gets IPv6 peers in the BEP 15
 * IPv6 layout, 18 bytes each (the original sent IPv4 peers only, reference §7.4).
 *
 * The loop: one receive buffer, one send buffer and one parse scratch per socket, reused for
 * every datagram; each reply is sent before the next datagram is handled, so the buffers are
 * never shared by two packets. Every packet is handled inside a `try`: nothing a client sends can
 * stop the loop.
 *
 * @module
 */
import {
  DEFAULT_MAX_SCRAPE_TORRENTS,
  parseUdpRequest,
  type UdpLimits,
  UdpParseScratch,
  writeAnnounceReply,
  writeConnectReply,
  writeErrorReply,
  writeScrapeReply,
} from "../protocol/udp_packet.ts";
import {
  type AnnounceRequest,
  type AnnounceResult,
  blankAnnounceRequest,
  isFailure,
  type SwarmCounts,
  Want,
} from "../protocol/types.ts";
import { isIpv6, socketIp } from "../protocol/ip.ts";
import { announceError } from "../protocol/announce_check.ts";
import { FAILURE } from "../tracker/tracker.ts";
import type { TrackerStore } from "../tracker/store.ts";
import { ConnectionIds } from "./connection_id.ts";
import type { Admission } from "../admission/admission.ts";

/**
 * Datagrams longer than this are cut to it (as the original does, reference §7.1). A request
 * never needs more: an announce is 98 bytes plus a few BEP 41 options, and a scrape of the
 * largest allowed batch is 16 + 20 × 74.
 */
export const UDP_RECEIVE_BUFFER_LENGTH = 4096;

/**
 * The port given to {@linkcode ConnectionIds}: always this constant, so ids are keyed on the
 * source address and the time window only. libtorrent keeps one connection id per tracker
 * address for the whole process and uses it from every socket it has (several sessions, or one
 * per listen interface, each with its own port), and a NAT may move a client to another port
 * between connect and announce. The port adds nothing against spoofing: to learn an id one must
 * receive the connect reply at the address, whatever the port.
 */
export const CONNECTION_ID_PORT = 0;

/** Largest UDP payload over IPv4; the send buffer never needs to be larger. */
const MAX_UDP_PAYLOAD = 65_507;

/** Settings of the UDP listener. */
export interface UdpServerOptions {
  /** Honour the announce's `ip` field (non-zero, request over IPv4 only). */
  allowProxy: boolean;
  /** Most hashes read from one scrape; the rest are ignored. */
  maxScrapeTorrents: number;
  /** Largest `numwant` the core grants; sizes the send buffer. */
  maxNumwant: number;
  /** Connection id issuer; a fresh one with a random key when omitted. */
  connectionIds?: ConnectionIds;
  /** Deny list and rate limits; none when omitted. */
  admission?: Admission;
}

/** The defaults of `hefur serve`. */
export const DEFAULT_UDP_SERVER_OPTIONS: UdpServerOptions = {
  allowProxy: false,
  maxScrapeTorrents: DEFAULT_MAX_SCRAPE_TORRENTS,
  maxNumwant: 100,
};

/** What the listener has seen since it started, for metrics and tests. */
export interface UdpCounters {
  /** Datagrams received. */
  packets: number;
  /** Datagrams answered (any reply, error packets included). */
  replies: number;
  connects: number;
  announces: number;
  /** Announces the core refused (answered with an error packet). */
  announceFailures: number;
  /** Requests refused by admission (denied network or rate limit), with an error packet. */
  refused: number;
  scrapes: number;
  /** Error packets sent: malformed requests with a valid id, and refusals of the core. */
  errorReplies: number;
  /** Dropped without an answer because they could not be parsed or answered (unsendable). */
  malformed: number;
  /** Dropped because their connection id did not verify for their source. */
  badConnectionIds: number;
  /** Exceptions while handling a packet (a bug: the packet was dropped, the loop went on). */
  exceptions: number;
  /** Failed receives and sends. */
  socketErrors: number;
}

/** Where a datagram came from, as the handler needs it. */
interface Source {
  /** Canonical address text (v4-mapped undone). */
  ip: string;
  /** True when the request arrived over IPv6 (not v4-mapped). */
  v6: boolean;
}

/**
 * The UDP tracker: one or two bound sockets (see {@linkcode UdpServer.listen}), each with its
 * own packet loop, answering from one {@linkcode Tracker}.
 *
 * @example
 * ```ts
 * import { UdpServer } from "./udp.ts";
 * import { Tracker } from "../tracker/tracker.ts";
 * const udp = UdpServer.listen("127.0.0.1", 0, new Tracker());
 * console.log(`udp://127.0.0.1:${udp.addr.port}/announce`);
 * await udp.close();
 * ```
 */
export class UdpServer {
  /** Packet counts since start. */
  readonly counters: UdpCounters = {
    packets: 0,
    replies: 0,
    connects: 0,
    announces: 0,
    announceFailures: 0,
    refused: 0,
    scrapes: 0,
    errorReplies: 0,
    malformed: 0,
    badConnectionIds: 0,
    exceptions: 0,
    socketErrors: 0,
  };
  readonly #store: TrackerStore;
  readonly #ids: ConnectionIds;
  readonly #allowProxy: boolean;
  readonly #admission: Admission | undefined;
  readonly #limits: UdpLimits;
  readonly #sendLength: number;
  // Shared by both sockets: each is filled and consumed within one synchronous `handle` call.
  readonly #scratch = new UdpParseScratch();
  readonly #request: AnnounceRequest = blankAnnounceRequest();
  readonly #source: Source = { ip: "", v6: false };
  readonly #conns: Deno.DatagramConn[];
  readonly #loops: Promise<void>[];
  #closed = false;

  /**
   * Serves on already bound sockets. Most callers want {@linkcode UdpServer.listen}; with no
   * socket at all, {@linkcode UdpServer.handle} can still be driven directly (tests, benchmarks).
   */
  constructor(
    conns: Deno.DatagramConn[],
    store: TrackerStore,
    options: Partial<UdpServerOptions> = {},
  ) {
    const o = { ...DEFAULT_UDP_SERVER_OPTIONS, ...options };
    this.#store = store;
    this.#ids = o.connectionIds ?? new ConnectionIds();
    this.#allowProxy = o.allowProxy;
    this.#admission = o.admission;
    this.#limits = { maxScrapeTorrents: o.maxScrapeTorrents };
    // Room for the largest reply: an IPv6 announce with every peer the core may give, or a
    // scrape of the largest batch (always smaller than its request).
    this.#sendLength = Math.min(
      MAX_UDP_PAYLOAD,
      Math.max(20 + 18 * o.maxNumwant, 8 + 12 * o.maxScrapeTorrents, UDP_RECEIVE_BUFFER_LENGTH),
    );
    this.#conns = conns;
    this.#loops = conns.map((c) => this.#serve(c));
  }

  /**
   * Binds `hostname`:`port` and serves on it.
   *
   * Dual stack: on the IPv6 wildcard `::`, Linux delivers IPv4 datagrams to the same socket as
   * v4-mapped addresses unless `net.ipv6.bindv6only` is set, and Deno offers no `IPV6_V6ONLY`
   * switch. So after binding `::` this also tries `0.0.0.0` on the same port: where the system is
   * dual-stack that bind fails (the port is taken for IPv4 too) and one socket serves both
   * families; where it is not, the second socket serves IPv4.
   */
  static listen(
    hostname: string,
    port: number,
    store: TrackerStore,
    options: Partial<UdpServerOptions> = {},
  ): UdpServer {
    const main = Deno.listenDatagram({ transport: "udp", hostname, port });
    const conns = [main];
    if (hostname === "::") {
      try {
        const bound = (main.addr as Deno.NetAddr).port;
        conns.push(Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: bound }));
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse)) {
          main.close();
          throw e;
        }
      }
    }
    return new UdpServer(conns, store, options);
  }

  /** The address of the first (main) socket. */
  get addr(): Deno.NetAddr {
    return this.#conns[0].addr as Deno.NetAddr;
  }

  /** Every bound address (two when an IPv6 wildcard had to be paired with an IPv4 one). */
  get addrs(): Deno.NetAddr[] {
    return this.#conns.map((c) => c.addr as Deno.NetAddr);
  }

  /** Stops the packet loops and closes the sockets; resolves once the loops have ended. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const c of this.#conns) c.close();
    }
    await Promise.all(this.#loops);
  }

  /**
   * Handles one datagram from `hostname` (as `Deno.NetAddr` gives it) and writes the reply into
   * `out`. Returns the reply's length, 0 for "send nothing". Synchronous and without sockets, so
   * tests and benchmarks can drive it directly.
   */
  handle(packet: Uint8Array, hostname: string, out: Uint8Array): number {
    this.counters.packets++;
    const src = this.#source;
    src.ip = socketIp(hostname);
    src.v6 = isIpv6(src.ip);
    const r = parseUdpRequest(packet, this.#limits, this.#scratch);
    switch (r.kind) {
      case "connect": {
        this.counters.connects++;
        // A denied network gets no connection id: its error fits in the 16 bytes it sent.
        if (this.#admission?.isDenied(src.ip)) {
          this.counters.refused++;
          return this.#error(out, r.transactionId, "denied", packet.length);
        }
        const [hi, lo] = this.#ids.issue(src.ip, CONNECTION_ID_PORT);
        return writeConnectReply(out, r.transactionId, hi, lo);
      }
      case "announce": {
        if (!this.#verify(r.connectionIdHi, r.connectionIdLo)) return 0;
        this.counters.announces++;
        // Checked on the verified source only, so a spoofer cannot spend another's tokens.
        const refusal = this.#admission?.check(src.ip, "announce");
        if (refusal !== undefined) {
          this.counters.refused++;
          return this.#error(out, r.transactionId, refusal.reason, packet.length);
        }
        const req = this.#request;
        req.infoHash = r.infoHash;
        req.peerId = r.peerId;
        req.ip = this.#allowProxy && r.ip !== 0 && !src.v6 ? ipv4Text(r.ip) : src.ip;
        req.port = r.port;
        req.uploaded = r.uploaded;
        req.downloaded = r.downloaded;
        req.left = r.left;
        req.event = r.event;
        req.numwant = r.numwant;
        req.want = src.v6 ? Want.V6 : Want.V4;
        const invalid = announceError(req);
        if (invalid !== undefined) {
          this.counters.announceFailures++;
          return this.#error(out, r.transactionId, invalid, packet.length);
        }
        const result = this.#store.announce(req);
        return this.#announced(out, r.transactionId, result, src.v6 ? 6 : 4, packet.length);
      }
      case "scrape": {
        if (!this.#verify(r.connectionIdHi, r.connectionIdLo)) return 0;
        this.counters.scrapes++;
        const refusal = this.#admission?.check(src.ip, "scrape");
        if (refusal !== undefined) {
          this.counters.refused++;
          return this.#error(out, r.transactionId, refusal.reason, packet.length);
        }
        const counts = this.#store.scrape(r.infoHashes);
        return this.#scraped(out, r.transactionId, counts, packet.length);
      }
      case "sendable": {
        if (!this.#verify(r.connectionIdHi, r.connectionIdLo)) return 0;
        return this.#error(out, r.transactionId, r.message, packet.length);
      }
      case "unsendable":
        this.counters.malformed++;
        return 0;
    }
  }

  #announced(
    out: Uint8Array,
    tid: number,
    result: AnnounceResult,
    family: 4 | 6,
    requestLength: number,
  ): number {
    if (isFailure(result)) {
      this.counters.announceFailures++;
      return this.#error(out, tid, result.failure, requestLength);
    }
    return writeAnnounceReply(out, tid, result, family);
  }

  #scraped(
    out: Uint8Array,
    tid: number,
    counts: (SwarmCounts | undefined)[],
    requestLength: number,
  ): number {
    // Unknown hashes get zeros so entries line up with the request (reference §16.1.2); but
    // with a whitelist, a scrape naming only untracked torrents gets a clear error instead.
    if (!this.#store.options.open && counts.every((c) => c === undefined)) {
      return this.#error(out, tid, FAILURE.notFound, requestLength);
    }
    return writeScrapeReply(out, tid, counts);
  }

  #verify(hi: number, lo: number): boolean {
    const src = this.#source;
    if (this.#ids.verify(src.ip, CONNECTION_ID_PORT, hi, lo)) return true;
    this.counters.badConnectionIds++;
    return false;
  }

  #error(out: Uint8Array, tid: number, message: string, requestLength: number): number {
    const n = writeErrorReply(out, tid, message, requestLength);
    if (n > 0) this.counters.errorReplies++;
    return n;
  }

  /**
   * The packet loop of one socket: receive, handle, send, in turn. Each reply is sent before the
   * next datagram is read, so one receive and one send buffer serve every packet. (Leaving the
   * send in flight while the next datagram is awaited measured no better in CPU per request with
   * the C load generator, so the simple form stays.)
   */
  async #serve(conn: Deno.DatagramConn): Promise<void> {
    const recv = new Uint8Array(UDP_RECEIVE_BUFFER_LENGTH);
    const out = new Uint8Array(this.#sendLength);
    // A view of `out` per reply length, made once: replies come in few lengths.
    const views: Uint8Array[] = [];
    const counters = this.counters;
    let failures = 0;
    while (!this.#closed) {
      let packet: Uint8Array;
      let from: Deno.NetAddr;
      try {
        [packet, from] = (await conn.receive(recv)) as [Uint8Array, Deno.NetAddr];
      } catch (e) {
        if (this.#closed || e instanceof Deno.errors.BadResource) break;
        counters.socketErrors++;
        // A socket that keeps failing must not spin the CPU.
        if (++failures > 100) await new Promise((ok) => setTimeout(ok, 10));
        continue;
      }
      failures = 0;
      let n: number;
      try {
        n = this.handle(packet, from.hostname, out);
      } catch {
        counters.exceptions++;
        continue;
      }
      if (n > 0) {
        try {
          await conn.send(views[n] ??= out.subarray(0, n), from);
          counters.replies++;
        } catch {
          if (this.#closed) break;
          counters.socketErrors++;
        }
      }
    }
  }
}

/** Dotted-quad text of an IPv4 address given as an unsigned 32-bit number. */
function ipv4Text(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}
