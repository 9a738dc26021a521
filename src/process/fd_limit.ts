/**
 * The process's file descriptor limit, and connection limits that fit in it.
 *
 * Every open connection holds a descriptor; when they are all taken, `accept()` fails and so does
 * opening the state file, a log file or a `.torrent` file. So at start the connection limits are
 * lowered, when needed, to leave {@link RESERVED_DESCRIPTORS} for everything else.
 *
 * Deno has no `getrlimit`. The limit is read from `/proc/self/limits`, which Deno 2.9 lets only a
 * program with every permission read (not even `--allow-read=/proc/self/limits` grants it): under
 * the permission sandbox the limit is unknown and the limits are left as configured. The accept
 * loops still back off when descriptors run out (see `net/accept_backoff.ts`).
 *
 * @module
 */
import { getLogger } from "../log/mod.ts";

/** Descriptors kept for listeners, UDP sockets, files, Redis and the control socket. */
export const RESERVED_DESCRIPTORS = 64;

/**
 * The soft limit on open files from the text of `/proc/self/limits`, or undefined when it is
 * missing or unlimited.
 */
export function parseDescriptorLimit(limits: string): number | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (m === null || m[1] === "unlimited") return undefined;
  return Number(m[1]);
}

/** The process's soft descriptor limit, or undefined when it cannot be read (the sandbox). */
export function readDescriptorLimit(): number | undefined {
  try {
    return parseDescriptorLimit(Deno.readTextFileSync("/proc/self/limits"));
  } catch {
    return undefined;
  }
}

/** Connection limits: per HTTP(S) listener, and WebSocket connections in all. */
export interface ConnectionLimits {
  maxHttpConnections: number;
  maxWsConnections: number;
}

/**
 * `wanted`, scaled down in proportion so that `httpListeners` listeners full of connections plus
 * the WebSocket connections (0 when `ws` is false) leave {@link RESERVED_DESCRIPTORS} of `limit`
 * free; each limit stays at least 1. Returns `wanted` itself when it fits.
 *
 * @example
 * ```ts
 * import { fitConnectionLimits } from "./fd_limit.ts";
 * fitConnectionLimits(1024, 1, true, { maxHttpConnections: 4096, maxWsConnections: 10000 });
 * // { maxHttpConnections: 278, maxWsConnections: 681 }
 * ```
 */
export function fitConnectionLimits(
  limit: number,
  httpListeners: number,
  ws: boolean,
  wanted: ConnectionLimits,
): ConnectionLimits {
  const budget = Math.max(0, limit - RESERVED_DESCRIPTORS);
  const total = httpListeners * wanted.maxHttpConnections + (ws ? wanted.maxWsConnections : 0);
  if (total <= budget) return wanted;
  const scale = budget / total;
  return {
    maxHttpConnections: Math.max(1, Math.floor(wanted.maxHttpConnections * scale)),
    maxWsConnections: ws
      ? Math.max(1, Math.floor(wanted.maxWsConnections * scale))
      : wanted.maxWsConnections,
  };
}

/**
 * The connection limits to run with: `wanted` fitted to the descriptor limit (read here unless
 * given), with a warning when they had to be lowered.
 */
export function connectionLimitsWithin(
  httpListeners: number,
  ws: boolean,
  wanted: ConnectionLimits,
  limit: number | undefined = readDescriptorLimit(),
): ConnectionLimits {
  if (limit === undefined) return wanted;
  const fitted = fitConnectionLimits(limit, httpListeners, ws, wanted);
  if (fitted !== wanted) {
    getLogger("hefur").warning(
      "the file descriptor limit is {limit}: --max-http-connections lowered from {http} to " +
        "{fittedHttp} per listener and --max-ws-connections from {ws} to {fittedWs}, keeping " +
        "{reserved} descriptors for files and sockets (raise the limit, e.g. systemd's " +
        "LimitNOFILE, to serve more)",
      {
        limit,
        http: wanted.maxHttpConnections,
        fittedHttp: fitted.maxHttpConnections,
        ws: wanted.maxWsConnections,
        fittedWs: fitted.maxWsConnections,
        reserved: RESERVED_DESCRIPTORS,
      },
    );
  }
  return fitted;
}
