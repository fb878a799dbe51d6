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

// prelude starts the settle script (one ticket). It drops the tickets whose
// lease has passed (a crashed node's) and their reservations, and reads the
// period's spend, starting it from the caller's seed when Redis holds
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

// multiLib is the prelude and counters of the scripts that serve several
// subjects at once (one request's key, team, organisation...): the same
// steps as prelude, for the subject whose five KEYS (in the prelude's
// order) start after KEYS[k]. Their keys span several hash tags, so these
// scripts need a single Redis or Valkey (not a Redis Cluster, which the
// client of this package does not speak either).
//
// ARGV: 1 now (ms).
const multiLib = `
local now = tonumber(ARGV[1])
local function prelude(k, periodTTL, seed)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[k+1], '-inf', now, 'LIMIT', 0, 128)
  for _, t in ipairs(gone) do
    local amt = redis.call('HGET', KEYS[k+2], t)
    if amt then
      redis.call('HINCRBY', KEYS[k+2], '_sum', -tonumber(amt))
      redis.call('HDEL', KEYS[k+2], t)
    end
    redis.call('ZREM', KEYS[k+1], t)
  end
  local spent = redis.call('GET', KEYS[k+5])
  if spent then
    return tonumber(spent), 0
  end
  spent = tonumber(seed)
  if tonumber(periodTTL) > 0 then
    redis.call('SET', KEYS[k+5], spent, 'PX', periodTTL)
  else
    redis.call('SET', KEYS[k+5], spent)
  end
  return spent, 1
end
local function counters(k)
  return tonumber(redis.call('GET', KEYS[k+3]) or '0'), tonumber(redis.call('GET', KEYS[k+4]) or '0'),
    redis.call('ZCOUNT', KEYS[k+1], '(' .. now, '+inf'), tonumber(redis.call('HGET', KEYS[k+2], '_sum') or '0')
end
`

// admitAllScript admits several subjects all or none. Each subject in turn
// is checked in the order of the in-memory limiter (concurrency, requests,
// tokens, budget) and, if it allows, counted: a request slot, the ticket
// held until its lease ends, the worst case reserved. A refusal undoes the
// subjects counted before it, so nothing is held when the script returns,
// and no other client saw the counts in between. It returns {index of the
// refusing subject (0-based) or -1, then for each subject up to the
// refusing one, or for all: denied limit or "", requests, tokens,
// concurrent, spent, reserved, started}.
//
// KEYS: five per subject, as the prelude's. ARGV after multiLib's: 2 state
// TTL (ms), 3 window TTL (ms), 4 lease end (ms); then eight per subject:
// period TTL (ms), seed, rpm, tpm, max concurrent, budget, worst case,
// ticket.
var admitAllScript = redis.NewScript(multiLib + `
local n = #KEYS / 5
local seen = {}
local function undo(j)
  local k, a = (j-1)*5, 4 + (j-1)*8
  redis.call('DECR', KEYS[k+3])
  redis.call('ZREM', KEYS[k+1], ARGV[a+8])
  local worst = tonumber(ARGV[a+7])
  if worst > 0 then
    redis.call('HDEL', KEYS[k+2], ARGV[a+8])
    redis.call('HINCRBY', KEYS[k+2], '_sum', -worst)
  end
end
for i = 1, n do
  local k, a = (i-1)*5, 4 + (i-1)*8
  local spent, started = prelude(k, ARGV[a+1], ARGV[a+2])
  local reqs, toks, conc, reserved = counters(k)
  local rpm, tpm, maxc, budget, worst = tonumber(ARGV[a+3]), tonumber(ARGV[a+4]), tonumber(ARGV[a+5]),
    tonumber(ARGV[a+6]), tonumber(ARGV[a+7])
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
  if denied ~= '' then
    for j = i - 1, 1, -1 do
      undo(j)
    end
    local res = {i - 1}
    for j = 1, i - 1 do
      local r, t, c, rs = counters((j-1)*5)
      local s = seen[j]
      for _, v in ipairs({'', r, t, c, s[1], rs, s[2]}) do
        res[#res+1] = v
      end
    end
    for _, v in ipairs({denied, reqs, toks, conc, spent, reserved, started}) do
      res[#res+1] = v
    end
    return res
  end
  reqs = redis.call('INCR', KEYS[k+3])
  if reqs == 1 then
    redis.call('PEXPIRE', KEYS[k+3], ARGV[3])
  end
  redis.call('ZADD', KEYS[k+1], ARGV[4], ARGV[a+8])
  redis.call('PEXPIRE', KEYS[k+1], ARGV[2])
  if worst > 0 then
    redis.call('HSET', KEYS[k+2], ARGV[a+8], worst)
    redis.call('HINCRBY', KEYS[k+2], '_sum', worst)
    redis.call('PEXPIRE', KEYS[k+2], ARGV[2])
  end
  seen[i] = {spent, started}
end
local res = {-1}
for i = 1, n do
  local r, t, c, rs = counters((i-1)*5)
  for _, v in ipairs({'', r, t, c, seen[i][1], rs, seen[i][2]}) do
    res[#res+1] = v
  end
end
return res
`)

// settleAllScript settles several tickets as settleScript settles one. It
// returns, for each: "", requests, tokens, concurrent, spent, reserved,
// started.
//
// KEYS: five per ticket, as the prelude's. ARGV after multiLib's: 2 window
// TTL (ms); then five per ticket: period TTL (ms), seed, ticket, cost,
// tokens.
var settleAllScript = redis.NewScript(multiLib + `
local res = {}
for i = 1, #KEYS / 5 do
  local k, a = (i-1)*5, 2 + (i-1)*5
  local spent, started = prelude(k, ARGV[a+1], ARGV[a+2])
  local t = ARGV[a+3]
  redis.call('ZREM', KEYS[k+1], t)
  local amt = redis.call('HGET', KEYS[k+2], t)
  if amt then
    redis.call('HINCRBY', KEYS[k+2], '_sum', -tonumber(amt))
    redis.call('HDEL', KEYS[k+2], t)
  end
  if tonumber(ARGV[a+4]) > 0 then
    spent = redis.call('INCRBY', KEYS[k+5], ARGV[a+4])
  end
  if tonumber(ARGV[a+5]) > 0 then
    redis.call('INCRBY', KEYS[k+4], ARGV[a+5])
    redis.call('PEXPIRE', KEYS[k+4], ARGV[2])
  end
  local r, tk, c, rs = counters(k)
  for _, v in ipairs({'', r, tk, c, spent, rs, started}) do
    res[#res+1] = v
  end
end
return res
`)

// cancelScript undoes admissions: for each ticket it frees its slot,
// releases its reservation and takes one request off its admission
// minute's count, never below zero. A ticket the store does not hold
// (settled, lapsed, or an admission that never ran) changes nothing. It
// returns 0.
//
// KEYS: three per ticket: tickets, reserved, requests of the admission
// minute. ARGV: the tickets.
var cancelScript = redis.NewScript(`
for i = 1, #KEYS / 3 do
  local k, t = (i-1)*3, ARGV[i]
  local held = redis.call('ZREM', KEYS[k+1], t)
  local amt = redis.call('HGET', KEYS[k+2], t)
  if amt then
    redis.call('HINCRBY', KEYS[k+2], '_sum', -tonumber(amt))
    redis.call('HDEL', KEYS[k+2], t)
  end
  if held == 1 and tonumber(redis.call('GET', KEYS[k+3]) or '0') > 0 then
    redis.call('DECR', KEYS[k+3])
  end
end
return 0
`)
