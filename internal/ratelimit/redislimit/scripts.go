package redislimit

import "github.com/redis/go-redis/v9"

// The scripts run atomically in Redis: no other client's command runs
// between their reads and writes, so that two nodes never both take the last
// slot. Numbers are integers (micro-dollars, tokens, counts, Unix
// milliseconds); Lua's doubles hold them exactly below 2^53.
//
// Keys of one API key share a hash tag ({id}), so the scripts also run on a
// Redis Cluster. For key id K and prefix P:
//
//	P{K}:tickets         sorted set: ticket -> lease end (Unix ms)
//	P{K}:reserved        hash: ticket -> reserved micro-dollars; "_sum" -> their total
//	P{K}:req:MINUTE      requests admitted in that minute (Unix minutes)
//	P{K}:tok:MINUTE      tokens settled in that minute
//	P{K}:spent:START     micro-dollars settled in the budget period that starts at START (Unix seconds; 0 for total)

// prelude is shared by the admit and settle scripts. It drops the tickets
// whose lease has passed (a crashed node's) and their reservations, and reads
// the period's spend, starting it from the caller's seed when Redis holds
// none (a new period, or a Redis that restarted empty).
//
// KEYS: 1 tickets, 2 reserved, 3 requests, 4 tokens, 5 spent.
// ARGV: 1 now (ms), 2 state TTL (ms), 3 window TTL (ms), 4 period TTL (ms,
// 0: none), 5 seed (micro-dollars).
const prelude = `
local now = tonumber(ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 128)
for _, t in ipairs(gone) do
  local amt = redis.call('HGET', KEYS[2], t)
  if amt then
    redis.call('HINCRBY', KEYS[2], '_sum', -tonumber(amt))
    redis.call('HDEL', KEYS[2], t)
  end
  redis.call('ZREM', KEYS[1], t)
end
local started = 0
local spent = redis.call('GET', KEYS[5])
if spent then
  spent = tonumber(spent)
else
  spent = tonumber(ARGV[5])
  started = 1
  if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[5], spent, 'PX', ARGV[4])
  else
    redis.call('SET', KEYS[5], spent)
  end
end
local function counters()
  return tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0'),
    redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'), tonumber(redis.call('HGET', KEYS[2], '_sum') or '0')
end
`

// admitScript checks the limits in the order of the in-memory limiter
// (concurrency, requests, tokens, budget) and, if all allow, counts the
// request, holds the ticket until its lease ends and reserves the worst
// case. It returns {denied limit or "", requests, tokens, concurrent, spent,
// reserved, started}.
//
// ARGV after the prelude's: 6 rpm, 7 tpm, 8 max concurrent, 9 budget,
// 10 worst case, 11 ticket, 12 lease end (ms).
var admitScript = redis.NewScript(prelude + `
local reqs, toks, conc, reserved = counters()
local rpm, tpm, maxc, budget, worst = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local denied = ''
if maxc > 0 and conc >= maxc then
  denied = 'concurrency'
elseif rpm > 0 and reqs >= rpm then
  denied = 'requests'
elseif tpm > 0 and toks >= tpm then
  denied = 'tokens'
elseif budget > 0 and spent + reserved + worst > budget then
  denied = 'budget'
end
if denied == '' then
  reqs = redis.call('INCR', KEYS[3])
  if reqs == 1 then
    redis.call('PEXPIRE', KEYS[3], ARGV[3])
  end
  redis.call('ZADD', KEYS[1], ARGV[12], ARGV[11])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  conc = conc + 1
  if worst > 0 then
    redis.call('HSET', KEYS[2], ARGV[11], worst)
    reserved = redis.call('HINCRBY', KEYS[2], '_sum', worst)
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
end
return {denied, reqs, toks, conc, spent, reserved, started}
`)

// settleScript ends a ticket: it frees its slot, releases its reservation
// (unless its lease already passed and the prelude released it) and adds the
// real cost and tokens. It returns {"", requests, tokens, concurrent, spent,
// reserved, started}.
//
// ARGV after the prelude's: 6 ticket, 7 cost, 8 tokens.
var settleScript = redis.NewScript(prelude + `
redis.call('ZREM', KEYS[1], ARGV[6])
local amt = redis.call('HGET', KEYS[2], ARGV[6])
if amt then
  redis.call('HINCRBY', KEYS[2], '_sum', -tonumber(amt))
  redis.call('HDEL', KEYS[2], ARGV[6])
end
if tonumber(ARGV[7]) > 0 then
  spent = redis.call('INCRBY', KEYS[5], ARGV[7])
end
if tonumber(ARGV[8]) > 0 then
  redis.call('INCRBY', KEYS[4], ARGV[8])
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
local reqs, toks, conc, reserved = counters()
return {'', reqs, toks, conc, spent, reserved, started}
`)

// readScript returns {"", requests, tokens, concurrent, spent, reserved, 0}
// and changes nothing.
//
// KEYS as the prelude's; ARGV: 1 now (ms).
var readScript = redis.NewScript(`
local now = tonumber(ARGV[1])
return {'', tonumber(redis.call('GET', KEYS[3]) or '0'), tonumber(redis.call('GET', KEYS[4]) or '0'),
  redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'), tonumber(redis.call('GET', KEYS[5]) or '0'),
  tonumber(redis.call('HGET', KEYS[2], '_sum') or '0'), 0}
`)

// seedScript raises a period's spend to at least ARGV[1] and returns it. A
// new key expires after ARGV[2] ms (0: never); an existing one keeps its TTL.
//
// KEYS: 1 spent.
var seedScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local v = tonumber(ARGV[1])
if cur and tonumber(cur) >= v then
  return tonumber(cur)
end
if cur then
  redis.call('SET', KEYS[1], v, 'KEEPTTL')
elseif tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], v)
end
return v
`)
