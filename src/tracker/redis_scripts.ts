/**
 * The Lua scripts replication runs in Redis: one per batch of changes that holds completed events
 * (not per announce; other batches are a plain `XADD`), one per snapshot, one when an instance
 * joins. Each runs atomically, so what they read and write is
 * consistent without transactions on the client side.
 *
 * Keys (all under {@link KEY_PREFIX}):
 * - `changes`: the stream of batches, `{o: instance, d: records, c: completions}` per entry;
 *   trimmed by age (`MINID ~`), so its memory is bounded by the traffic of a minute or two.
 * - `completed`: a hash, info hash (20 binary bytes) → completed count: the durable totals.
 * - `batch:<instance>:<seq>`: one small key per batch with completed events, for a while, so that
 *   such a batch sent twice (a retry after a lost reply) is counted once.
 * - `snapshot`: a hash `{pos, data, at}`: every peer some instance held, as change records, and
 *   the stream position they include.
 *
 * @module
 */

/** Prefix of every key. */
export const KEY_PREFIX = "hefur:";
/** The stream of batches. */
export const CHANGES_KEY = KEY_PREFIX + "changes";
/** Durable completed totals. */
export const COMPLETED_KEY = KEY_PREFIX + "completed";
/** The latest snapshot. */
export const SNAPSHOT_KEY = KEY_PREFIX + "snapshot";
/** Prefix of the keys that remember batches already applied. */
export const BATCH_KEY_PREFIX = KEY_PREFIX + "batch:";

/**
 * Publishes one batch, once. KEYS: batch key, completed hash, stream. ARGV: instance, records,
 * completions (bytes), seconds the batch key lives, milliseconds of history the stream keeps,
 * then pairs of info hash and count. Returns the entry's id, or false for a batch already
 * published.
 */
export const PUBLISH_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) then return false end
for i = 6, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
local t = redis.call('TIME')
local minid = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) - tonumber(ARGV[5])
return redis.call('XADD', KEYS[3], 'MINID', '~', tostring(minid), '*',
  'o', ARGV[1], 'd', ARGV[2], 'c', ARGV[3])
`;

/**
 * Stores a snapshot unless another instance stored one less than ARGV[3] ms ago. KEYS: snapshot.
 * ARGV: stream position, records, minimum age. Returns 1 when stored, 0 when skipped.
 */
export const SNAPSHOT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if now - at < tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'pos', ARGV[1], 'data', ARGV[2], 'at', tostring(now))
return 1
`;

/**
 * What a joining instance reads, at one instant. KEYS: snapshot, completed, stream. Returns
 * { Redis time (ms), snapshot position, snapshot records, snapshot time (ms), completed totals
 * (flat field/value list), id of the stream's last entry, id of its first entry } ("" for what
 * does not exist).
 */
export const JOIN_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local snap = redis.call('HMGET', KEYS[1], 'pos', 'data', 'at')
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
return { tostring(now), snap[1] or '', snap[2] or '', snap[3] or '0',
  redis.call('HGETALL', KEYS[2]),
  last[1] and last[1][1] or '', first[1] and first[1][1] or '' }
`;
