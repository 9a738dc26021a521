// Announce requests for tests of the tracker core and its stores, built field by field.
import assert from "node:assert/strict";
import {
  AnnounceEvent,
  type AnnounceReply,
  type AnnounceRequest,
  type AnnounceResult,
  isFailure,
  Want,
} from "../../src/protocol/types.ts";

/** The info hash `req` announces unless told otherwise. */
export const HASH = "H".repeat(20);

let portCounter = 1000;

/**
 * An IPv4 leecher announce for `HASH` from 10.0.0.1, with `over` applied; without a port each
 * call takes a new one, and the peer id follows the port, so every call is a distinct peer.
 */
export function req(over: Partial<AnnounceRequest> = {}): AnnounceRequest {
  const port = over.port ?? portCounter++;
  return {
    infoHash: HASH,
    peerId: ("peer" + port).padEnd(20, "-"),
    ip: "10.0.0.1",
    port,
    uploaded: 0,
    downloaded: 0,
    left: 100,
    event: AnnounceEvent.None,
    numwant: -1,
    want: Want.V4,
    ...over,
  };
}

/** The reply of an announce that must have succeeded (fails the test on a failure). */
export function ok(r: AnnounceResult): AnnounceReply {
  assert.ok(!isFailure(r), `unexpected failure ${JSON.stringify(r)}`);
  return r as AnnounceReply;
}

/**
 * A seeder's `started` announce that wants no peers back: how a test puts one peer straight into a
 * tracker's swarm, as if it had announced over some other listener.
 */
export function seederJoins(
  peer: Pick<AnnounceRequest, "infoHash" | "peerId" | "ip" | "port">,
): AnnounceRequest {
  return {
    ...peer,
    uploaded: 0,
    downloaded: 0,
    left: 0,
    event: AnnounceEvent.Started,
    numwant: 0,
    want: Want.V4,
  };
}
