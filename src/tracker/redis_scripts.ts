/**
 * The Lua scripts the Redis store runs. Each request is one script call, so it is one round trip
 * and atomic: announces from several Hefur instances never interleave inside a swarm, and the
 * counters stay exact.
 *
 * The keys of one torrent, `hefur:<hex info hash>:` followed by:
 *
 * | suffix | type       | holds                                                               |
 * | ------ | ---------- | ------------------------------------------------------------------- |
 * | `p`    | hash       | compact address (6 or 18 bytes) → peer record                       |
 * | `4`    | sorted set | IPv4 peers (compact address + peer id) by last announce, in seconds |
 * | `6`    | sorted set | the same for IPv6                                                   |
 * | `c`    | hash       | `complete`, `incomplete`, `downloaded`                              |
 *
 * A peer record is `s` (seeder) or `l` (leecher), the 20-byte peer id, then
 * `left uploaded downloaded` as decimal text (read only by `/peers`). A sorted set's member is the
 * peer's compact bytes followed by its peer id: a reply takes the compact bytes of the members it
 * picks (no encoding) and leaves out the requester's peer id by looking at the member alone,
 * without reading the records (which halves the cost of an announce).
 *
 * Two keys are shared by every torrent: `hefur:torrents`, the set of tracked torrents in open
 * mode (hex hashes; bounded by `--max-torrents`), and `hefur:expiry`, a sorted set of torrents by
 * the second their oldest peer expires, so the periodic sweep touches only swarms with something
 * to expire. Time is Redis's own (`TIME`), so instances agree on it whatever their clocks.
 *
 * Redis Cluster is not supported: the sweep builds key names from the expiry set.
 *
 * @module
 */

/** Prefix of every key the store writes. */
export const KEY_PREFIX = "hefur:";
/** The set of tracked torrents (open mode). */
export const TORRENTS_KEY = KEY_PREFIX + "torrents";
/** Torrents by the second their oldest peer expires. */
export const EXPIRY_KEY = KEY_PREFIX + "expiry";

/** Shared by the announce and sweep scripts: expiry and the bookkeeping of one swarm. */
const SWARM_FUNCTIONS = `
local SEED = 115 -- 's'

-- Forgets the record of the peer of member m (compact address + peer id), keeping the counts.
local function forget(P, m, counts)
  local a = string.sub(m, 1, -21)
  local r = redis.call('HGET', P, a)
  if r and string.sub(r, 2, 21) == string.sub(m, -20) then
    if string.byte(r, 1) == SEED then counts[1] = counts[1] - 1 else counts[2] = counts[2] - 1 end
    redis.call('HDEL', P, a)
  end
end

-- Forgets every peer of sorted set z last heard at or before cutoff.
local function expire(P, z, cutoff, counts)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
  if #old == 0 then return end
  for _, m in ipairs(old) do forget(P, m, counts) end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
end

-- Writes the counters back and files the torrent under the second its oldest peer expires; an
-- empty swarm with no completion leaves nothing behind (and, in open mode, stops being tracked).
local function save(C, Z4, Z6, T, E, hex, counts, timeout, open)
  local o4 = redis.call('ZRANGE', Z4, 0, 0, 'WITHSCORES')
  local o6 = redis.call('ZRANGE', Z6, 0, 0, 'WITHSCORES')
  local oldest = tonumber(o4[2])
  local old6 = tonumber(o6[2])
  if oldest == nil or (old6 ~= nil and old6 < oldest) then oldest = old6 end
  if oldest == nil then
    redis.call('ZREM', E, hex)
    if counts[3] == 0 then
      redis.call('DEL', C)
      if open then redis.call('SREM', T, hex) end
      return
    end
  else
    redis.call('ZADD', E, oldest + timeout, hex)
  end
  redis.call('HSET', C, 'complete', counts[1], 'incomplete', counts[2], 'downloaded', counts[3])
end

local function load(C)
  local c = redis.call('HMGET', C, 'complete', 'incomplete', 'downloaded')
  return { tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0 }
end
`;

/**
 * One announce.
 *
 * KEYS: peers hash, IPv4 set, IPv6 set, counters hash, torrents set, expiry set.
 * ARGV: hex hash, compact address, peer record, event, numwant (clamped), want (1 IPv4, 2 IPv6,
 * 3 both), peer timeout (s), max peers, open (1/0), max torrents, with peer ids (1/0), a random
 * number in [0, 1) where the selection starts, min interval for early announces (s; 0: off).
 *
 * Returns `{-1}` when the torrent bound refuses a new torrent, else
 * `{1, complete, incomplete, downloaded, IPv4 peers, IPv6 peers, peer ids}` (byte strings); the
 * first is 2 instead of 1 for an early announce (a plain one sooner than the min interval after
 * the peer's last, same seeder/leecher state), which is left unrecorded and gets no peers.
 */
export const ANNOUNCE_SCRIPT = SWARM_FUNCTIONS + `
local P, Z4, Z6, C, T, E = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local hex, addr, rec = ARGV[1], ARGV[2], ARGV[3]
local event, numwant, want = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local timeout, maxPeers = tonumber(ARGV[7]), tonumber(ARGV[8])
local open, maxTorrents = ARGV[9] == '1', tonumber(ARGV[10])
local withIds, rnd = ARGV[11] == '1', tonumber(ARGV[12])
local minInterval = tonumber(ARGV[13])
local NONE, COMPLETED, STOPPED = 0, 1, 3

if open and redis.call('SISMEMBER', T, hex) == 0 then
  if redis.call('SCARD', T) >= maxTorrents then return { -1 } end
  redis.call('SADD', T, hex)
end

local now = tonumber(redis.call('TIME')[1])
local counts = load(C)
expire(P, Z4, now - timeout, counts)
expire(P, Z6, now - timeout, counts)

local z = (#addr == 6) and Z4 or Z6
local seed = string.byte(rec, 1) == SEED
local peerId = string.sub(rec, 2, 21)
local self = addr .. peerId
local old = redis.call('HGET', P, addr)
if old and event == NONE and minInterval > 0 and (string.byte(old, 1) == SEED) == seed then
  local last = tonumber(redis.call('ZSCORE', z, addr .. string.sub(old, 2, 21)))
  if last and now - last < minInterval then
    save(C, Z4, Z6, T, E, hex, counts, timeout, open)
    return { 2, counts[1], counts[2], counts[3], '', '', '' }
  end
end
if old then
  local wasSeed = string.byte(old, 1) == SEED
  if not wasSeed and seed and event == COMPLETED then counts[3] = counts[3] + 1 end
  if wasSeed then counts[1] = counts[1] - 1 else counts[2] = counts[2] - 1 end
  if event == STOPPED then redis.call('HDEL', P, addr) end
  -- The member names the peer id: a new id at the same address replaces it.
  local oldId = string.sub(old, 2, 21)
  if event == STOPPED or oldId ~= peerId then redis.call('ZREM', z, addr .. oldId) end
end

local out4, out6, ids = {}, {}, {}
if event ~= STOPPED then
  redis.call('HSET', P, addr, rec)
  redis.call('ZADD', z, now, self)
  if seed then counts[1] = counts[1] + 1 else counts[2] = counts[2] + 1 end

  -- The bound: evict the peers heard from longest ago, never the requester.
  local excess = redis.call('HLEN', P) - maxPeers
  while excess > 0 do
    local victim, vz, vs = nil, nil, nil
    for _, s in ipairs({ Z4, Z6 }) do
      local r = redis.call('ZRANGE', s, 0, 1, 'WITHSCORES')
      for k = 1, #r, 2 do
        if r[k] ~= self then
          local score = tonumber(r[k + 1])
          if vs == nil or score < vs then victim, vz, vs = r[k], s, score end
          break
        end
      end
    end
    if victim == nil then break end
    forget(P, victim, counts)
    redis.call('ZREM', vz, victim)
    excess = excess - 1
  end

  -- Up to n peers of set s from a random rank on (wrapping around), never the requester by
  -- address or by peer id.
  local function pick(s, n, out)
    if n <= 0 then return 0 end
    local size = redis.call('ZCARD', s)
    if size == 0 then return 0 end
    local pos = math.floor(rnd * size)
    local got, seen = 0, 0
    while got < n and seen < size do
      local stop = math.min(pos + (n - got) + 1, pos + (size - seen) - 1, size - 1)
      local ms = redis.call('ZRANGE', s, pos, stop)
      for k = 1, #ms do
        local m = ms[k]
        -- The requester's own member ends with its peer id too.
        if got < n and string.sub(m, -20) ~= peerId then
          got = got + 1
          out[got] = string.sub(m, 1, -21)
          if withIds then ids[#ids + 1] = string.sub(m, -20) end
        end
      end
      seen = seen + #ms
      pos = stop + 1
      if pos >= size then pos = 0 end
    end
    return got
  end

  if numwant > 0 then
    local size6 = redis.call('ZCARD', Z6)
    if want == 1 or size6 == 0 then
      if want ~= 2 then pick(Z4, numwant, out4) end
    elseif want == 2 then
      pick(Z6, numwant, out6)
    else
      -- Share between the families, then give what one could not use to the other.
      local for6 = math.min(math.ceil(numwant / 2), size6)
      local n4 = pick(Z4, numwant - for6, out4)
      pick(Z6, numwant - n4, out6)
    end
  end
end

save(C, Z4, Z6, T, E, hex, counts, timeout, open)
return { 1, counts[1], counts[2], counts[3], table.concat(out4), table.concat(out6),
  table.concat(ids) }
`;

/**
 * Counters of several torrents (scrape and pages).
 *
 * KEYS: the torrents set, then one counters hash per torrent. ARGV: open (1/0), then the hex
 * hashes. Returns four integers per torrent: tracked (1/0; always 1 unless open), complete,
 * incomplete, downloaded.
 */
export const COUNTS_SCRIPT = `
local open = ARGV[1] == '1'
local out = {}
for k = 2, #KEYS do
  local c = redis.call('HMGET', KEYS[k], 'complete', 'incomplete', 'downloaded')
  local tracked = 1
  if open then tracked = redis.call('SISMEMBER', KEYS[1], ARGV[k]) end
  out[#out + 1] = tracked
  out[#out + 1] = tonumber(c[1]) or 0
  out[#out + 1] = tonumber(c[2]) or 0
  out[#out + 1] = tonumber(c[3]) or 0
end
return out
`;

/**
 * The newest peers of one torrent, for `/peers`.
 *
 * KEYS: peers hash, IPv4 set, IPv6 set, counters hash, torrents set. ARGV: open (1/0), hex hash,
 * most peers per family. Returns `{tracked, now, complete, incomplete, downloaded, total,
 * members and scores (newest first, both families), their records}`; a member is the compact
 * address then the peer id.
 */
export const PEERS_SCRIPT = `
local P, Z4, Z6, C, T = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local open, hex, limit = ARGV[1] == '1', ARGV[2], tonumber(ARGV[3])
if open and redis.call('SISMEMBER', T, hex) == 0 then return { 0 } end
local c = redis.call('HMGET', C, 'complete', 'incomplete', 'downloaded')
local ms = {}
for _, s in ipairs(limit > 0 and { Z4, Z6 } or {}) do
  local r = redis.call('ZREVRANGE', s, 0, limit - 1, 'WITHSCORES')
  for k = 1, #r do ms[#ms + 1] = r[k] end
end
local recs = {}
if #ms > 0 then
  local names = {}
  for k = 1, #ms, 2 do names[#names + 1] = string.sub(ms[k], 1, -21) end
  recs = redis.call('HMGET', P, unpack(names))
end
for k = 1, #recs do if not recs[k] then recs[k] = '' end end
return { 1, tonumber(redis.call('TIME')[1]), tonumber(c[1]) or 0, tonumber(c[2]) or 0,
  tonumber(c[3]) or 0, redis.call('ZCARD', Z4) + redis.call('ZCARD', Z6), ms, recs }
`;

/**
 * One batch of the periodic expiry: the swarms whose oldest peer is due.
 *
 * KEYS: torrents set, expiry set. ARGV: key prefix, peer timeout (s), open (1/0), batch size.
 * Returns how many swarms it swept (a full batch means: call again).
 */
export const SWEEP_SCRIPT = SWARM_FUNCTIONS + `
local T, E = KEYS[1], KEYS[2]
local prefix, timeout, open, batch = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local now = tonumber(redis.call('TIME')[1])
local due = redis.call('ZRANGEBYSCORE', E, '-inf', now, 'LIMIT', 0, batch)
for _, hex in ipairs(due) do
  local base = prefix .. hex .. ':'
  local P, Z4, Z6, C = base .. 'p', base .. '4', base .. '6', base .. 'c'
  local counts = load(C)
  expire(P, Z4, now - timeout, counts)
  expire(P, Z6, now - timeout, counts)
  save(C, Z4, Z6, T, E, hex, counts, timeout, open)
end
return #due
`;
