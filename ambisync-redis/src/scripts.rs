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
