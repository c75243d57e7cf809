"""The team ledger's server-side steps, in Lua: each runs atomically on the Redis server.

Every script reads the time from the server (`TIME`) unless the caller passes one (tests drive a fake
clock that way), so machines with skewed clocks still book one window. Expired leases are settled first
wherever a scope is read: a reservation nobody committed or released in time counts as sent.

Rows are JSON in the project's `req` hash; `live` (a sorted set by time) holds the rows that count. All keys
of a project share its `{project}` hash tag, so a script touching a row's day key stays on one slot.
"""

from __future__ import annotations

PRELUDE = r"""
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function now_ms(arg)
  local n = tonumber(arg)
  if n and n >= 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function settle(live, leases, req, now)
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
  for _, id in ipairs(ids) do
    local raw = redis.call('HGET', req, id)
    if raw then
      local row = cjson.decode(raw)
      if row.state == 'reserved' then
        row.state = 'committed'
        row.expired = 1
        redis.call('HSET', req, id, cjson.encode(row))
      end
    end
    redis.call('ZREM', leases, id)
  end
end
local function window_rows(live, req, now, window)
  local ids = redis.call('ZRANGEBYSCORE', live, '(' .. (now - window), '+inf')
  local rows = {}
  for first = 1, #ids, 500 do
    local chunk = {}
    for i = first, math.min(first + 499, #ids) do chunk[#chunk + 1] = ids[i] end
    local raws = redis.call('HMGET', req, unpack(chunk))
    for _, raw in ipairs(raws) do
      if raw then rows[#rows + 1] = cjson.decode(raw) end
    end
  end
  return rows
end
local function today(now, day_start, next_mid, key_today, key_tomorrow)
  if now >= next_mid then return next_mid, key_tomorrow end
  return day_start, key_today
end
-- The scope as admission sees it (KEYS and ARGV[1..5] as below), and its window rows.
local function read_scope()
  local now = now_ms(ARGV[1])
  local window = tonumber(ARGV[2])
  local day_start, day_key = today(now, tonumber(ARGV[3]), tonumber(ARGV[4]), KEYS[11], KEYS[12])
  settle(KEYS[1], KEYS[2], KEYS[3], now)
  local rows = window_rows(KEYS[1], KEYS[3], now, window)
  local shown = {}
  for _, r in ipairs(rows) do
    shown[#shown + 1] = {r.ts, r.tokens, r.images, (r.owner == ARGV[5]) and 1 or 0}
  end
  local day_count = redis.call('ZCOUNT', KEYS[1], day_start, '+inf')
  local counts = redis.call('HMGET', day_key, 'r', 'r:' .. ARGV[5])
  local team = (tonumber(counts[1]) or 0) - (tonumber(counts[2]) or 0)
  local doc = {
    now = now, rows = shown, day = day_count, team = math.max(0, team),
    blocks = redis.call('HGETALL', KEYS[4]), learned = redis.call('HGETALL', KEYS[5]),
    adjustments = redis.call('HGETALL', KEYS[6]), tier = redis.call('HGETALL', KEYS[7]),
    rv = tonumber(redis.call('GET', KEYS[8]) or '0'), tv = tonumber(redis.call('GET', KEYS[9]) or '0'),
    uv = tonumber(redis.call('GET', KEYS[10]) or '0'),
  }
  return doc, rows, day_key
end
"""

# The scope's keys, for both scripts below:
# KEYS: live, leases, req, blocks, learned, adjustments, tier, rules version, tier version, usage version,
#       today's day hash, tomorrow's day hash, all rows, models
# ARGV: now (-1: server time), window ms, day start ms, next midnight ms, owner
SNAPSHOT = (
    PRELUDE
    + r"""
local doc = read_scope()
return cjson.encode(doc)
"""
)

# Check-and-reserve across RPM, TPM, RPD and IPM (and the server's blocks) in one step, returning the
# snapshot it decided on (before its own row) with `status`: 'ok' (reserved, `ts`), 'changed' (learned
# limits, lowerings or the tier moved since the limits given were computed) or 'full' (no room).
# ARGV after the five above: id, tokens, images, lease ms, model, rules version seen, tier version seen,
#   usage version seen ('' = not checked), rpm, tpm, rpd, ipm (-1 = unlimited; rpm '' = no limits
#   given: then the usage version must not have moved either), day hash time to live ms
RESERVE = (
    PRELUDE
    + r"""
local doc, rows, day_key = read_scope()
local now = doc.now
if doc.rv ~= tonumber(ARGV[11]) or doc.tv ~= tonumber(ARGV[12])
    or (ARGV[13] ~= '' and doc.uv ~= tonumber(ARGV[13])) then
  doc.status = 'changed'
  return cjson.encode(doc)
end
local tokens, images = tonumber(ARGV[7]), tonumber(ARGV[8])
local blocks = doc.blocks
for i = 1, #blocks, 2 do
  if tonumber(blocks[i + 1]) > now and (blocks[i] ~= 'ipm' or images > 0) then
    doc.status = 'full'
    return cjson.encode(doc)
  end
end
if ARGV[14] ~= '' then
  local rpm, tpm, rpd, ipm = tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17])
  local n, tok, img = #rows, 0, 0
  for _, r in ipairs(rows) do
    tok = tok + r.tokens
    img = img + r.images
  end
  if (rpm >= 0 and n + 1 > rpm) or (tpm >= 0 and tok + tokens > tpm)
      or (ipm >= 0 and images > 0 and img + images > ipm) or (rpd >= 0 and doc.day + 1 > rpd) then
    doc.status = 'full'
    return cjson.encode(doc)
  end
end
local id, owner = ARGV[6], ARGV[5]
local lease = now + tonumber(ARGV[9])
redis.call('HSET', KEYS[3], id, cjson.encode({
  model = ARGV[10], ts = now, tokens = tokens, images = images, state = 'reserved', owner = owner,
  lease = lease, day = day_key}))
redis.call('ZADD', KEYS[1], now, id)
redis.call('ZADD', KEYS[13], now, id)
redis.call('ZADD', KEYS[2], lease, id)
redis.call('SADD', KEYS[14], ARGV[10])
redis.call('HINCRBY', day_key, 'r', 1)
redis.call('HINCRBY', day_key, 't', tokens)
redis.call('HINCRBY', day_key, 'i', images)
redis.call('HINCRBY', day_key, 'r:' .. owner, 1)
redis.call('PEXPIRE', day_key, tonumber(ARGV[18]))
redis.call('INCR', KEYS[10])
doc.status = 'ok'
doc.ts = now
return cjson.encode(doc)
"""
)

# KEYS: req, leases, usage version
# ARGV: id, tokens ('' keeps the estimate), images ('' keeps it)
# Returns 1 when the row is (now) committed, 0 when unknown or released.
COMMIT = (
    PRELUDE
    + r"""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local row = cjson.decode(raw)
if row.state == 'released' then return 0 end
local tokens = tonumber(ARGV[2]) or row.tokens
local images = tonumber(ARGV[3]) or row.images
redis.call('HINCRBY', row.day, 't', tokens - row.tokens)
redis.call('HINCRBY', row.day, 'i', images - row.images)
row.tokens, row.images, row.state = tokens, images, 'committed'
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(row))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
"""
)

# KEYS: req, leases, live, usage version
# ARGV: now, id
# Returns the row as it was (JSON), or nil when unknown. A row whose lease ran out stays counted: the
# server may have counted the request, so it is never handed back as free.
RELEASE = (
    PRELUDE
    + r"""
local now = now_ms(ARGV[1])
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return false end
local row = cjson.decode(raw)
if row.state == 'released' or row.expired then return raw end
if row.state == 'reserved' and row.lease <= now then
  settle(KEYS[3], KEYS[2], KEYS[1], now)
  return raw
end
row.state = 'released'
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(row))
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HINCRBY', row.day, 'r', -1)
redis.call('HINCRBY', row.day, 't', 0 - row.tokens)  -- never -0: HINCRBY refuses it
redis.call('HINCRBY', row.day, 'i', 0 - row.images)
redis.call('HINCRBY', row.day, 'r:' .. row.owner, -1)
redis.call('INCR', KEYS[4])
return raw
"""
)

# KEYS: blocks. ARGV: dimension, until ms. A later block already there wins.
SET_BLOCK = r"""
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""

# KEYS: req, all rows, live, leases, blocks, adjustments. ARGV: now, cutoff ms.
# Drops request rows older than the cutoff (their days live on in the day hashes), expired blocks and
# lowerings older than the cutoff. Returns the number of rows dropped.
PRUNE = (
    PRELUDE
    + r"""
local now, cutoff = now_ms(ARGV[1]), tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
for first = 1, #ids, 500 do
  local chunk = {}
  for i = first, math.min(first + 499, #ids) do chunk[#chunk + 1] = ids[i] end
  redis.call('HDEL', KEYS[1], unpack(chunk))
  redis.call('ZREM', KEYS[3], unpack(chunk))
  redis.call('ZREM', KEYS[4], unpack(chunk))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
local blocks = redis.call('HGETALL', KEYS[5])
for i = 1, #blocks, 2 do
  if tonumber(blocks[i + 1]) <= now then redis.call('HDEL', KEYS[5], blocks[i]) end
end
local adjustments = redis.call('HGETALL', KEYS[6])
for i = 1, #adjustments, 2 do
  if cjson.decode(adjustments[i + 1]).at_ms < cutoff then redis.call('HDEL', KEYS[6], adjustments[i]) end
end
return #ids
"""
)
