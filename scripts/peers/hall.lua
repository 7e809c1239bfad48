-- hallq's hall lifecycle on Redis, for scripts/peers/run: one Lua call is one operation, as one
-- HTTP request is one operation of hallq-loadtest.
--
--   EVALSHA <sha> 0 <op> <window>
--
-- op:  issue     a citizen takes a number for one of the window's services
--      call      the window calls the next waiting ticket it may serve (nil: nobody waiting)
--      start     the window starts serving the ticket it called
--      complete  the window completes it
--      step      the window's next step of the load test's cycle: issue, call, start,
--                complete, issue, ... (a call that finds nobody goes back to issue), which is
--                what one hallq-loadtest worker does at one window; redis-benchmark sends this
--      check     (window ignored) the invariants over the whole province, after a run
-- window: 0..267 as in province.awk; redis-benchmark's __rand_int__ comes zero-padded.
--
-- Keys (the layout a hall system on Redis needs; {h} a hall, {s} a service, {n} a ticket):
--   w:{window}      hash  hall, id, svcs "3,4,5", ranks "1,1,2" (the window's ranking),
--                         state open|calling|serving, cur (the ticket it holds), next (step)
--   h:{h}           hash  seq (the hall's issue counter: a ticket's id and its place in issue
--                         order), n:{s} (the service's last number given out)
--   t:{h}:{n}       hash  svc, class p|n, num, state waiting|called|serving|done, window,
--                         issued, called, started, done (µs since the epoch)
--   q:{h}:{s}:p     list  waiting green-channel tickets of a service, oldest first
--   q:{h}:{s}:n     list  waiting normal tickets, oldest first
--   calls:{h}       stream  every call (window, ticket, number), capped at about 1,000 entries:
--                         what a hall display reads and resumes from, as hallq's call events
--
-- The keys are derived from the window, so they are not passed as KEYS: fine on one Redis (what
-- is measured), not cluster-ready. A script runs alone (Redis is single-threaded), so "call
-- next" can never give one ticket to two windows; with appendfsync always its writes reach the
-- disk before any client gets its reply.

local op, window = ARGV[1], tonumber(ARGV[2])

local function now()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', t[2])
end

local function split(s)
  local out = {}
  for x in string.gmatch(s, '[^,]+') do out[#out + 1] = x end
  return out
end

-- Set fields of the window, and its next step when the call came from `step`.
local function set_window(wkey, next_step, ...)
  local args = { ... }
  if next_step then
    args[#args + 1] = 'next'
    args[#args + 1] = next_step
  end
  redis.call('HSET', wkey, unpack(args))
end

local function check()
  -- Every issued ticket is in exactly one place: waiting in one list of its hall (and in state
  -- waiting), held by the one window its record names (called or serving), or done.
  local problems, held, waiting, issued, done = {}, {}, 0, 0, 0
  local services = {}
  local w = 0
  while true do
    local win = redis.call('HMGET', 'w:' .. w, 'hall', 'svcs', 'cur')
    if not win[1] then break end
    local h = win[1]
    services[h] = services[h] or {}
    for _, s in ipairs(split(win[2])) do services[h][s] = true end
    if win[3] then
      local key = 't:' .. h .. ':' .. win[3]
      local t = redis.call('HMGET', key, 'state', 'window')
      if (t[1] ~= 'called' and t[1] ~= 'serving') or tonumber(t[2]) ~= w then
        problems[#problems + 1] = 'window ' .. w .. ' holds ' .. key .. ' in state ' .. tostring(t[1])
      end
      if held[key] then problems[#problems + 1] = key .. ' held by two windows' end
      held[key] = true
    end
    w = w + 1
  end
  local holding = 0
  for _ in pairs(held) do holding = holding + 1 end
  local counted = { waiting = 0, called = 0, serving = 0, done = 0 }
  for h, svcs in pairs(services) do
    local seq = tonumber(redis.call('HGET', 'h:' .. h, 'seq') or 0)
    issued = issued + seq
    for n = 1, seq do
      local state = redis.call('HGET', 't:' .. h .. ':' .. n, 'state')
      if counted[state] then
        counted[state] = counted[state] + 1
      else
        problems[#problems + 1] = 't:' .. h .. ':' .. n .. ' in state ' .. tostring(state)
      end
    end
    local seen = {}
    for s in pairs(svcs) do
      for _, class in ipairs({ 'p', 'n' }) do
        for _, n in ipairs(redis.call('LRANGE', 'q:' .. h .. ':' .. s .. ':' .. class, 0, -1)) do
          local key = 't:' .. h .. ':' .. n
          if seen[key] then problems[#problems + 1] = key .. ' waits twice' end
          seen[key] = true
          waiting = waiting + 1
          if redis.call('HGET', key, 'state') ~= 'waiting' then
            problems[#problems + 1] = key .. ' in a waiting list but not waiting'
          end
        end
      end
    end
  end
  done = counted.done
  if counted.waiting ~= waiting then
    problems[#problems + 1] = counted.waiting .. ' tickets waiting, ' .. waiting .. ' in the lists'
  end
  if counted.called + counted.serving ~= holding then
    problems[#problems + 1] = (counted.called + counted.serving) .. ' tickets called or serving, '
      .. holding .. ' held by windows'
  end
  return cjson.encode({ issued = issued, waiting = waiting, held = holding, done = done,
    problems = problems })
end

if op == 'check' then return check() end

local wkey = 'w:' .. window
local win = redis.call('HMGET', wkey, 'hall', 'id', 'svcs', 'ranks', 'state', 'cur', 'next')
local hall, id, state, cur = win[1], win[2], win[5], win[6]
if not hall then return redis.error_reply('no window ' .. tostring(ARGV[2])) end

local function issue(next_step)
  local h = 'h:' .. hall
  local svcs = split(win[3])
  local seq = redis.call('HINCRBY', h, 'seq', 1)
  -- The service and class follow the issue order: the window's services in turn, and every
  -- tenth round green channel (one ticket in ten, the load generator's PRIORITY_SHARE).
  local svc = svcs[seq % #svcs + 1]
  local class = (math.floor(seq / #svcs) % 10 == 0) and 'p' or 'n'
  local num = redis.call('HINCRBY', h, 'n:' .. svc, 1)
  redis.call('HSET', 't:' .. hall .. ':' .. seq,
    'svc', svc, 'class', class, 'num', num, 'state', 'waiting', 'issued', now())
  redis.call('RPUSH', 'q:' .. hall .. ':' .. svc .. ':' .. class, seq)
  if next_step then redis.call('HSET', wkey, 'next', next_step) end
  return seq
end

-- DESIGN's calling policy without the aging cap and the priority ratio: green channel before
-- normal; within a class the window's best rank with someone waiting; within a rank the
-- oldest ticket (lowest seq) of the heads of those services' lists.
local function call(next_found, next_nobody)
  if state ~= 'open' then return redis.error_reply('window ' .. window .. ' is ' .. tostring(state)) end
  local svcs, ranks = split(win[3]), split(win[4])
  for _, class in ipairs({ 'p', 'n' }) do
    local best, best_list, best_rank
    for i = 1, #svcs do
      local rank = tonumber(ranks[i])
      if best and rank > best_rank then break end
      local list = 'q:' .. hall .. ':' .. svcs[i] .. ':' .. class
      local head = redis.call('LINDEX', list, 0)
      if head then
        head = tonumber(head)
        if not best or head < best then best, best_list, best_rank = head, list, rank end
      end
    end
    if best then
      redis.call('LPOP', best_list)
      local t = 't:' .. hall .. ':' .. best
      redis.call('HSET', t, 'state', 'called', 'window', window, 'called', now())
      set_window(wkey, next_found, 'state', 'calling', 'cur', best)
      redis.call('XADD', 'calls:' .. hall, 'MAXLEN', '~', 1000, '*',
        'window', id, 'ticket', best, 'num', redis.call('HGET', t, 'num'))
      return best
    end
  end
  if next_nobody then redis.call('HSET', wkey, 'next', next_nobody) end
  return false
end

local function start(next_step)
  if state ~= 'calling' then return redis.error_reply('window ' .. window .. ' has called nobody') end
  redis.call('HSET', 't:' .. hall .. ':' .. cur, 'state', 'serving', 'started', now())
  set_window(wkey, next_step, 'state', 'serving')
  return tonumber(cur)
end

local function complete(next_step)
  if state ~= 'calling' and state ~= 'serving' then
    return redis.error_reply('window ' .. window .. ' holds no ticket')
  end
  redis.call('HSET', 't:' .. hall .. ':' .. cur, 'state', 'done', 'done', now())
  redis.call('HDEL', wkey, 'cur')
  set_window(wkey, next_step, 'state', 'open')
  return tonumber(cur)
end

if op == 'issue' then return issue(nil)
elseif op == 'call' then return call(nil, nil)
elseif op == 'start' then return start(nil)
elseif op == 'complete' then return complete(nil)
elseif op == 'step' then
  local next_step = win[7] or 'issue'
  if next_step == 'issue' then return issue('call')
  elseif next_step == 'call' then return call('start', 'issue')
  elseif next_step == 'start' then return start('complete')
  else return complete('issue') end
end
return redis.error_reply('unknown operation ' .. tostring(op))
