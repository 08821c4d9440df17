-- One batch of a projection's read model in Redis: its writes, parked events and checkpoints,
-- applied atomically, and only when the stored checkpoints are the ones the runner expects
-- (idempotent by position: a batch sent twice, or by two runners, applies once).
--
-- KEYS[1]  checkpoints hash: partition -> position
-- KEYS[2]  dead letters hash: position -> entry (JSON)
-- ARGV[1]  expected checkpoints, JSON object {"partition": position}
-- ARGV[2]  new checkpoints, JSON object
-- ARGV[3]  writes, JSON array of [COMMAND, key, arg, ...] (all strings)
-- ARGV[4]  parked events, JSON array of [position, entry]
-- ARGV[5]  positions to unpark, JSON array
-- Returns {1} when applied, {0, partition, stored position} when a checkpoint moved.
--
-- Redis does not roll back a script that fails half way, so every write is checked first
-- (allowed command, type of its key as the batch has left it) and only then applied.

local expected = cjson.decode(ARGV[1])
for partition, position in pairs(expected) do
  local stored = tonumber(redis.call('HGET', KEYS[1], partition) or '0')
  if stored ~= tonumber(position) then
    return {0, tonumber(partition), stored}
  end
end

-- command -> {type the key must have ('any' for every type), type it has afterwards}
local rules = {
  SET = {'any', 'string'}, INCRBY = {'string', 'string'}, DEL = {'any', 'none'},
  HSET = {'hash', 'hash'}, HDEL = {'hash', 'hash'}, HINCRBY = {'hash', 'hash'},
  SADD = {'set', 'set'}, SREM = {'set', 'set'},
  ZADD = {'zset', 'zset'}, ZREM = {'zset', 'zset'}, ZINCRBY = {'zset', 'zset'},
  RPUSH = {'list', 'list'}, LPUSH = {'list', 'list'},
  EXPIRE = {'any', nil}, PERSIST = {'any', nil},
}

local ops = cjson.decode(ARGV[3])
local types = {}
for _, op in ipairs(ops) do
  local command, key = op[1], op[2]
  local rule = rules[command]
  if rule == nil then
    return redis.error_reply('ERR factstream: command not allowed in a batch: ' .. command)
  end
  local have = types[key]
  if have == nil then
    have = redis.call('TYPE', key)['ok']
    types[key] = have
  end
  if rule[1] ~= 'any' and have ~= 'none' and have ~= rule[1] then
    return redis.error_reply('WRONGTYPE factstream: ' .. key .. ' holds a ' .. have .. ', '
      .. command .. ' needs a ' .. rule[1])
  end
  if rule[2] ~= nil then
    types[key] = rule[2]
  end
end

for _, op in ipairs(ops) do
  redis.call(unpack(op))
end
for _, parked in ipairs(cjson.decode(ARGV[4])) do
  redis.call('HSET', KEYS[2], parked[1], parked[2])
end
for _, position in ipairs(cjson.decode(ARGV[5])) do
  redis.call('HDEL', KEYS[2], position)
end
for partition, position in pairs(cjson.decode(ARGV[2])) do
  redis.call('HSET', KEYS[1], partition, position)
end
return {1}
