/**
 * The process's file descriptor limit, and connection limits that fit in it.
 *
 * Every open connection holds a descriptor; when they are all taken, `accept()` fails and so does
 * opening the state file, a log file or a `.torrent` file. So at start the connection limits are
 * lowered, when needed, to leave {@link RESERVED_DESCRIPTORS} for everything else.
 *
 * Deno has no `getrlimit`, and Deno 2.9 lets only a program with every permission read
 * `/proc/self/limits` (not even `--allow-read=/proc/self/limits` grants it). So with every
 * permission the limit is read from there, and under the permission sandbox it is found by
 * opening `/dev/null` until the kernel refuses, but never more times than the configured
 * connections need: at the defaults that is about 14,000 opens, a tenth of a second, once, before
 * any listener opens. The accept loops also back off when descriptors run out anyway (see
 * `net/accept_backoff.ts`), for a limit lowered while Hefur runs.
 *
 * @module
 */
import { closeSync, openSync } from "node:fs";
import { getLogger } from "../log/mod.ts";

/**
 * Descriptors kept for everything but HTTP and WebSocket connections: up to 64 control-socket
 * connections, and 64 for the listeners, UDP sockets, files and Redis.
 */
export const RESERVED_DESCRIPTORS = 128;

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

/**
 * The process's descriptor limit found by opening `/dev/null` until the kernel refuses (EMFILE,
 * or ENFILE when the whole system is out), opening at most `enough`; every descriptor opened is
 * closed before it returns. Undefined when all `enough` could be opened (the limit is high enough
 * for whatever needed them) or when `/dev/null` cannot be opened at all.
 *
 * Descriptors are numbered from the lowest free one, so when the kernel refuses, every number
 * below the limit is taken and the highest one opened is the limit minus one.
 */
export function probeDescriptorLimit(enough: number): number | undefined {
  const opened: number[] = [];
  let limit: number | undefined;
  try {
    while (opened.length < enough) opened.push(openSync("/dev/null", "r"));
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if ((code === "EMFILE" || code === "ENFILE") && opened.length > 0) {
      limit = 0;
      for (const fd of opened) limit = Math.max(limit, fd + 1);
    }
  } finally {
    for (const fd of opened) closeSync(fd);
  }
  return limit;
}

/**
 * The most descriptors a probe opens, about a second's work: connection limits configured beyond
 * this are trusted to fit rather than checked.
 */
export const MAX_PROBE = 131_072;

/**
 * The descriptor limit when it is below `enough`: read where the permissions allow it, probed
 * (up to {@link MAX_PROBE}) otherwise. Undefined when it is at least `enough` or cannot be known.
 */
export function descriptorLimitBelow(enough: number): number | undefined {
  const read = readDescriptorLimit();
  if (read !== undefined) return read < enough ? read : undefined;
  return probeDescriptorLimit(Math.min(enough, MAX_PROBE));
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
 * // { maxHttpConnections: 260, maxWsConnections: 635 }
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
 * The connection limits to run with: `wanted` fitted to the descriptor limit (found here unless
 * given), with a warning when they had to be lowered.
 */
export function connectionLimitsWithin(
  httpListeners: number,
  ws: boolean,
  wanted: ConnectionLimits,
  limit: number | undefined = descriptorLimitBelow(
    httpListeners * wanted.maxHttpConnections + (ws ? wanted.maxWsConnections : 0) +
      RESERVED_DESCRIPTORS,
  ),
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
