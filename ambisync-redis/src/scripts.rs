//! The Lua scripts. Every name and value reaches them as `KEYS`/`ARGV`;
//! nothing is spliced into script text. Time is always the server's
//! (`TIME`), never a client clock.

use std::sync::LazyLock;

use redis::Script;

/// Semaphore acquire.
/// KEYS: holders (zset token -> expiry ms), adjust (integer).
/// ARGV: permits, lease ms, token.
/// Returns {1, 0} when granted (also when the token holds already: a retried
/// acquire), else {0, ms until the earliest lease expires, or -1}.
pub(crate) static SEM_ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lease = tonumber(ARGV[2])
local capacity = tonumber(ARGV[1]) + tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < capacity then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then return {0, tonumber(first[2]) - now} end
return {0, -1}
",
    )
});

/// Semaphore renew. KEYS: holders. ARGV: token, lease ms.
/// Returns 1 when the token held an unexpired lease (now renewed), else 0.
pub(crate) static SEM_RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not expiry) or tonumber(expiry) <= now then
  if expiry then redis.call('ZREM', KEYS[1], ARGV[1]) end
  return 0
end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return 1
",
    )
});

/// Semaphore release, or `forget` (keep the permit taken for good).
/// KEYS: holders, adjust. ARGV: token, channel, forget (0/1).
/// Returns 1 when the token held an unexpired lease, else 0 (and removes an
/// expired entry of the token).
pub(crate) static SEM_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(expiry) <= now then return 0 end
if ARGV[3] == '1' then
  redis.call('DECR', KEYS[2])
else
  redis.call('PUBLISH', ARGV[2], '1')
end
return 1
",
    )
});

/// Raw semaphore release: adds permits.
/// KEYS: adjust. ARGV: n, channel, bounded (0/1).
/// Returns 1, or 0 when bounded and the permits would exceed the bound.
pub(crate) static SEM_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(ARGV[1])
if ARGV[3] == '1' and tonumber(redis.call('GET', KEYS[1]) or '0') + n > 0 then return 0 end
redis.call('INCRBY', KEYS[1], n)
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
",
    )
});

/// Free permits now. KEYS: holders, adjust. ARGV: permits.
/// Returns {free, holders}.
pub(crate) static SEM_AVAILABLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
local capacity = tonumber(ARGV[1]) + tonumber(redis.call('GET', KEYS[2]) or '0')
return {math.max(capacity - held, 0), held}
",
    )
});

/// Lock acquire. KEYS: lock (hash owner, token), fence (last token).
/// ARGV: lease ms, secret, floor (the highest token this client has seen).
///
/// The fencing token is the largest of: the server time in microseconds, the
/// last token + 1, the client's floor + 1. The first keeps tokens increasing
/// after Redis lost its data (a restart without persistence), as long as the
/// server clock does not step back; the floor covers that case for clients
/// that saw the older tokens.
/// Returns {1, token} when granted (also to the same secret again: a retried
/// acquire), else {0, ms left on the holder's lease}.
pub(crate) static LOCK_ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner then
  if owner == ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    return {1, redis.call('HGET', KEYS[1], 'token')}
  end
  return {0, tostring(redis.call('PTTL', KEYS[1]))}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local token = math.max(now, last + 1, tonumber(ARGV[3]) + 1)
local text = string.format('%.0f', token)
redis.call('SET', KEYS[2], text)
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'token', text)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {1, text}
",
    )
});

/// Lock renew. KEYS: lock. ARGV: secret, lease ms. Returns 1 or 0.
pub(crate) static LOCK_RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

/// Lock release. KEYS: lock. ARGV: secret, channel. Returns 1 or 0.
pub(crate) static LOCK_RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], '1')
  return 1
end
return 0
",
    )
});

/// Lock state. KEYS: lock, fence. Returns {locked 0/1, ms left, last token}.
pub(crate) static LOCK_STATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local locked = redis.call('EXISTS', KEYS[1])
return {locked, tostring(redis.call('PTTL', KEYS[1])), redis.call('GET', KEYS[2]) or '0'}
",
    )
});

// ---------------------------------------------------------------------------
// Queues (issue 14). An item travels as an envelope:
//   id (20 digits, so that equal priorities sort by id: FIFO) ':'
//   deliveries that ended without an acknowledgement ':' priority ':' payload
// Lists (FIFO, LIFO) are put at the left; FIFO gets take from the right,
// LIFO gets from the left. The priority queue is a sorted set scored by
// priority. Kinds: 'f', 'l', 'p'.

/// Lua helpers of the queue scripts.
const QUEUE_LIB: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ready_len(kind, ready)
  if kind == 'p' then return redis.call('ZCARD', ready) end
  return redis.call('LLEN', ready)
end
-- Puts an envelope where the next get takes it from.
local function push_back(kind, ready, env)
  if kind == 'p' then
    local _, _, p = string.match(env, '^(%d+):(%d+):(-?%d+):')
    redis.call('ZADD', ready, tonumber(p), env)
  elseif kind == 'f' then
    redis.call('RPUSH', ready, env)
  else
    redis.call('LPUSH', ready, env)
  end
end
-- One unfinished task less; wakes joiners when none is left.
local function finished(unfinished, n, join_channel)
  local left = redis.call('DECRBY', unfinished, n)
  if left <= 0 then
    if left < 0 then redis.call('SET', unfinished, '0') end
    redis.call('PUBLISH', join_channel, '0')
  end
end
-- A delivery that ended without an acknowledgement: back to the queue with
-- one more delivery counted, or to the dead letters after `max` of them
-- (which finishes its task). Returns 1 when dead-lettered.
local function redeliver(kind, ready, dead, unfinished, env, max, join_channel)
  local s, e, id, d, p = string.find(env, '^(%d+):(%d+):(-?%d+):')
  if not s then
    redis.call('RPUSH', dead, env)
    finished(unfinished, 1, join_channel)
    return 1
  end
  local again = id .. ':' .. (tonumber(d) + 1) .. ':' .. p .. ':' .. string.sub(env, e + 1)
  if tonumber(d) + 1 >= max then
    redis.call('RPUSH', dead, again)
    finished(unfinished, 1, join_channel)
    return 1
  end
  push_back(kind, ready, again)
  return 0
end
";

fn queue_script(body: &str) -> Script {
    Script::new(&format!("{QUEUE_LIB}{body}"))
}

/// Queue put. KEYS: ready, seq, unfinished, state.
/// ARGV: kind, maxsize (0: unbounded), priority, payload, get channel.
/// Returns the item's id, 0 when full, -1 when shut down.
pub(crate) static QUEUE_PUT: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local kind = ARGV[1]
local max = tonumber(ARGV[2])
if max > 0 and ready_len(kind, KEYS[1]) >= max then return 0 end
local id = redis.call('INCR', KEYS[2])
local env = string.format('%020d', id) .. ':0:' .. ARGV[3] .. ':' .. ARGV[4]
if kind == 'p' then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), env)
  redis.call('PUBLISH', ARGV[5], '1')
else
  redis.call('LPUSH', KEYS[1], env)
end
redis.call('INCR', KEYS[3])
return id
",
    )
});

/// Queue get without waiting: moves the next item into the consumer's
/// in-flight list. KEYS: ready, in-flight, state, consumers.
/// ARGV: kind, consumer, maxsize, put channel.
/// Returns {1, envelope}, {0} when empty, {-1} when shut down and empty,
/// {-2} when the consumer is not registered (or expired).
pub(crate) static QUEUE_GET: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
local expiry = redis.call('ZSCORE', KEYS[4], ARGV[2])
if (not expiry) or tonumber(expiry) <= now_ms() then return {-2} end
local kind = ARGV[1]
local env
if kind == 'p' then
  env = redis.call('ZPOPMIN', KEYS[1])[1]
  if env then redis.call('LPUSH', KEYS[2], env) end
elseif kind == 'f' then
  env = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
else
  env = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'LEFT')
end
if env then
  if tonumber(ARGV[3]) > 0 then redis.call('PUBLISH', ARGV[4], '1') end
  return {1, env}
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {-1} end
return {0}
",
    )
});

/// Acknowledges a delivery (`task_done`). KEYS: in-flight, unfinished.
/// ARGV: envelope, join channel. Returns 1, or 0 when the consumer no
/// longer holds it (its heartbeat lapsed and the item went back).
pub(crate) static QUEUE_ACK: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
finished(KEYS[2], 1, ARGV[2])
return 1
",
    )
});

/// Gives a delivery back. KEYS: ready, in-flight, dead, unfinished.
/// ARGV: kind, envelope, counted (1: it was a delivery, 0: a get cancelled
/// before the item reached the caller), max deliveries, get channel, join
/// channel. Returns 1, or 0 when the consumer no longer held it.
pub(crate) static QUEUE_RETURN: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
if redis.call('LREM', KEYS[2], 1, ARGV[2]) == 0 then return 0 end
if ARGV[3] == '1' then
  redeliver(ARGV[1], KEYS[1], KEYS[3], KEYS[4], ARGV[2], tonumber(ARGV[4]), ARGV[6])
else
  push_back(ARGV[1], KEYS[1], ARGV[2])
end
if ARGV[1] == 'p' then redis.call('PUBLISH', ARGV[5], '1') end
return 1
",
    )
});

/// Registers or renews a consumer's heartbeat, and returns the items of
/// consumers whose heartbeat lapsed (the visibility timeout) to the queue.
/// KEYS: consumers, ready, dead, unfinished.
/// ARGV: consumer, lease ms, kind, max deliveries, in-flight key prefix,
/// grace ms, get channel, join channel, mode ('register' or 'renew').
///
/// A lapsed consumer stays listed (expired) for `grace` more, and its list
/// is emptied again on every pass: a blocking move it sent before it lapsed
/// may still land there (its block time is shorter than the grace).
/// Returns 1, or 0 when renewing a consumer that had lapsed.
pub(crate) static QUEUE_HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
local now = now_ms()
local kind = ARGV[3]
local max = tonumber(ARGV[4])
local alive = 1
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[9] == 'renew' and ((not expiry) or tonumber(expiry) <= now) then
  alive = 0
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
local returned = 0
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 64)
for i = 1, #lapsed, 2 do
  local list = ARGV[5] .. lapsed[i]
  while true do
    local env = redis.call('RPOP', list)
    if not env then break end
    redeliver(kind, KEYS[2], KEYS[3], KEYS[4], env, max, ARGV[8])
    returned = returned + 1
  end
  if tonumber(lapsed[i + 1]) <= now - tonumber(ARGV[6]) then
    redis.call('ZREM', KEYS[1], lapsed[i])
  end
end
if returned > 0 and kind == 'p' then redis.call('PUBLISH', ARGV[7], '1') end
return alive
",
    )
});

/// Unregisters a consumer (its handle was dropped, or it was retired): its
/// items go back. It stays listed as lapsed, so that the heartbeat sweep
/// returns an item that a late blocking move still brings (and drops it
/// after the grace).
/// KEYS: consumers, in-flight, ready, dead, unfinished.
/// ARGV: consumer, kind, max deliveries, get channel, join channel.
/// Returns 1 when it was registered and alive.
pub(crate) static QUEUE_LEAVE: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = now_ms()
if expiry and tonumber(expiry) > now then redis.call('ZADD', KEYS[1], now, ARGV[1]) end
local kind = ARGV[2]
local returned = 0
while true do
  local env = redis.call('RPOP', KEYS[2])
  if not env then break end
  redeliver(kind, KEYS[3], KEYS[4], KEYS[5], env, tonumber(ARGV[3]), ARGV[5])
  returned = returned + 1
end
if returned > 0 and kind == 'p' then redis.call('PUBLISH', ARGV[4], '1') end
if expiry and tonumber(expiry) > now then return 1 end
return 0
",
    )
});

/// Queue state. KEYS: ready, unfinished, state, dead. ARGV: kind.
/// Returns {len, unfinished, shut down 0/1, dead letters}.
pub(crate) static QUEUE_STATE: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
return {ready_len(ARGV[1], KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0'),
        redis.call('EXISTS', KEYS[3]), redis.call('LLEN', KEYS[4])}
",
    )
});

/// Shuts the queue down. KEYS: state, ready, unfinished.
/// ARGV: kind, immediate (0/1), get channel, put channel, join channel.
/// Returns the drained envelopes (immediate), in the order the queue holds
/// them (a FIFO list holds them last-first).
pub(crate) static QUEUE_SHUTDOWN: LazyLock<Script> = LazyLock::new(|| {
    queue_script(
        r"
redis.call('SET', KEYS[1], '1')
local drained = {}
if ARGV[2] == '1' then
  if ARGV[1] == 'p' then
    drained = redis.call('ZRANGE', KEYS[2], 0, -1)
  else
    drained = redis.call('LRANGE', KEYS[2], 0, -1)
  end
  redis.call('DEL', KEYS[2])
  if #drained > 0 then finished(KEYS[3], #drained, ARGV[5]) end
end
redis.call('PUBLISH', ARGV[3], '1')
redis.call('PUBLISH', ARGV[4], '1')
return drained
",
    )
});

// ---------------------------------------------------------------------------
// Event and Barrier (issue 14).

/// Event set. KEYS: event (hash `set`, `gen`). ARGV: channel.
/// A set of a clear event bumps the generation to the larger of the last
/// one + 1 and the server time in microseconds (so it keeps increasing
/// after Redis lost its data) and wakes the waiters.
pub(crate) static EVENT_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'set') == '1' then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gen = math.max(tonumber(redis.call('HGET', KEYS[1], 'gen') or '0') + 1, now)
redis.call('HSET', KEYS[1], 'set', '1', 'gen', string.format('%.0f', gen))
redis.call('PUBLISH', ARGV[1], '1')
return 1
",
    )
});

/// Lua helpers of the barrier scripts. KEYS of every barrier script:
/// state (hash `broken`, `round`), order (list of waiting tokens in arrival
/// order), leases (zset token -> expiry ms), results (hash token -> index,
/// or -1 for a broken round).
const BARRIER_LIB: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Ends the waiting round: every waiter's result is `result`.
local function end_round(result, channel)
  local tokens = redis.call('LRANGE', KEYS[2], 0, -1)
  for i, t in ipairs(tokens) do
    redis.call('HSET', KEYS[4], t, result)
  end
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HINCRBY', KEYS[1], 'round', 1)
  redis.call('PUBLISH', channel, '1')
end
local function break_barrier(channel)
  end_round(-1, channel)
  redis.call('HSET', KEYS[1], 'broken', '1')
end
-- A waiting party whose lease lapsed (its process died or froze) breaks it.
local function lapsed(now)
  return redis.call('ZCOUNT', KEYS[3], '-inf', now) > 0
end
";

fn barrier_script(body: &str) -> Script {
    Script::new(&format!("{BARRIER_LIB}{body}"))
}

/// Barrier arrival. ARGV: token, parties, lease ms, channel.
/// Returns {1, index} when this arrival tripped the barrier, {0} when it
/// waits, {-1} when the barrier is broken.
pub(crate) static BARRIER_ARRIVE: LazyLock<Script> = LazyLock::new(|| {
    barrier_script(
        r"
if redis.call('HGET', KEYS[1], 'broken') == '1' then return {-1} end
local now = now_ms()
if lapsed(now) then
  break_barrier(ARGV[4])
  return {-1}
end
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
if n >= tonumber(ARGV[2]) then
  redis.call('LREM', KEYS[2], 1, ARGV[1])
  local tokens = redis.call('LRANGE', KEYS[2], 0, -1)
  for i, t in ipairs(tokens) do
    redis.call('HSET', KEYS[4], t, i - 1)
  end
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HINCRBY', KEYS[1], 'round', 1)
  redis.call('PUBLISH', ARGV[4], '1')
  return {1, n - 1}
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[4], 3600000)
return {0}
",
    )
});

/// A waiting party looks again. ARGV: token, channel.
/// Returns {1, index} when its round tripped, {-1} when it broke (or Redis
/// lost the round), {0, ms until the earliest lease of a waiting party
/// lapses} while it waits.
pub(crate) static BARRIER_CHECK: LazyLock<Script> = LazyLock::new(|| {
    barrier_script(
        r"
local result = redis.call('HGET', KEYS[4], ARGV[1])
if result then
  redis.call('HDEL', KEYS[4], ARGV[1])
  if tonumber(result) < 0 then return {-1} end
  return {1, tonumber(result)}
end
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return {-1} end
local now = now_ms()
if lapsed(now) then
  break_barrier(ARGV[2])
  redis.call('HDEL', KEYS[4], ARGV[1])
  return {-1}
end
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}
",
    )
});

/// A waiting party gives up: with `timeout` = 1 its wait timed out, which
/// breaks the barrier for everyone (Python); with 0 it withdraws its
/// arrival (a cancelled wait), which does not. ARGV: token, timeout, channel.
/// Returns {1, index} when the round had tripped already, {-1} otherwise.
pub(crate) static BARRIER_LEAVE: LazyLock<Script> = LazyLock::new(|| {
    barrier_script(
        r"
local result = redis.call('HGET', KEYS[4], ARGV[1])
if result then
  redis.call('HDEL', KEYS[4], ARGV[1])
  if tonumber(result) >= 0 then return {1, tonumber(result)} end
  return {-1}
end
if redis.call('LREM', KEYS[2], 1, ARGV[1]) > 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
  if ARGV[2] == '1' then
    break_barrier(ARGV[3])
    redis.call('HDEL', KEYS[4], ARGV[1])
  end
end
return {-1}
",
    )
});

/// Barrier reset (`abort` = 0) or abort (1). ARGV: abort, channel.
/// Reset breaks the waiting round and makes the barrier usable again;
/// abort leaves it broken.
pub(crate) static BARRIER_RESET: LazyLock<Script> = LazyLock::new(|| {
    barrier_script(
        r"
end_round(-1, ARGV[2])
redis.call('HSET', KEYS[1], 'broken', ARGV[1])
return 1
",
    )
});

/// Barrier state. Returns {waiting parties, broken 0/1}.
pub(crate) static BARRIER_STATE: LazyLock<Script> = LazyLock::new(|| {
    barrier_script(
        r"
return {redis.call('LLEN', KEYS[2]), tonumber(redis.call('HGET', KEYS[1], 'broken') or '0')}
",
    )
});
