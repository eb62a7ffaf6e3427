/**
 * The Lua scripts that make each settle one atomic step on the server: a copy is added (to the stream, the scheduled
 * set or the dead-letter stream) and the original acknowledged in the same script, so nothing is lost between the
 * two and nothing is doubled. Each settle first checks that the entry is still pending with this consumer: an entry
 * whose lease ran out and that another consumer claimed is that consumer's to settle now (the script returns -1), and
 * one no longer pending was settled already (0). That also makes every script safe to run again when its reply was
 * lost with the connection: the second run finds the entry settled and does nothing.
 *
 * Scripts are sent by EVALSHA, and by EVAL when the server does not have them cached (NOSCRIPT: a restarted server).
 * Time comes from the server's clock (TIME), never the client's, so due times agree between machines.
 */
import { createHash } from 'node:crypto';
import type { RedisArgument } from 'redis';
import type { RedisConnection, Reply } from './connection.ts';

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- 1: pending with this consumer; 0: not pending (settled already, or trimmed); -1: pending with another consumer.
local function owned(stream, group, consumer, id)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  if #p == 0 then return 0 end
  if p[1][2] ~= consumer then return -1 end
  return 1
end
-- XADD to stream, trimmed as asked ('none' | 'maxlen' | 'minid' with a count or an age in ms), the fields from a table.
local function xadd(stream, trim_kind, trim_value, fields)
  local args = {stream}
  if trim_kind == 'maxlen' then
    args[#args + 1] = 'MAXLEN'; args[#args + 1] = '~'; args[#args + 1] = trim_value
  elseif trim_kind == 'minid' then
    args[#args + 1] = 'MINID'; args[#args + 1] = '~'
    args[#args + 1] = string.format('%.0f', math.max(0, now_ms() - tonumber(trim_value)))
  end
  args[#args + 1] = '*'
  for i = 1, #fields do args[#args + 1] = fields[i] end
  return redis.call('XADD', unpack(args))
end
`;

/**
 * Settles an entry with a copy. KEYS: the source stream, the target (a stream, or the scheduled set).
 * ARGV: group, consumer, entry id, mode ('stream' | 'schedule'), delay ms, trim kind, trim value, delete ('1' | '0'),
 * token (unique, for the scheduled set's member), then the copy's fields.
 */
const SETTLE_WITH_COPY = `${COMMON}
local o = owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
if o ~= 1 then return o end
local fields = {}
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
if ARGV[4] == 'schedule' then
  table.insert(fields, 1, ARGV[9])
  redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[5]), cmsgpack.pack(fields))
else
  xadd(KEYS[2], ARGV[6], ARGV[7], fields)
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
if ARGV[8] == '1' then redis.call('XDEL', KEYS[1], ARGV[3]) end
return 1
`;

/** Acknowledges and deletes entries (deleteAcked). KEYS: stream. ARGV: group, then the entry ids. */
const ACK_AND_DELETE = `
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.call('XDEL', KEYS[1], unpack(ids))
return n
`;

/**
 * Adds a message to the scheduled set, due after a delay (a delayed publish). KEYS: the scheduled set. ARGV: delay ms,
 * token, then the fields.
 */
const SCHEDULE = `${COMMON}
local fields = {ARGV[2]}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[1]), cmsgpack.pack(fields))
return 1
`;

/**
 * Moves what is due from the scheduled set to the stream, each entry added and removed from the set in one step, so
 * any number of consumers may run it at once: a due entry is moved by exactly one of them. KEYS: the scheduled set,
 * the stream. ARGV: the most to move, trim kind, trim value. Returns { moved, ms until the next is due (-1: none) }.
 */
const MOVE_DUE = `${COMMON}
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  local fields = cmsgpack.unpack(member)
  table.remove(fields, 1)
  xadd(KEYS[2], ARGV[2], ARGV[3], fields)
  redis.call('ZREM', KEYS[1], member)
end
local next_due = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if next_due[2] then wait = math.max(0, tonumber(next_due[2]) - now) end
return {#due, wait}
`;

/**
 * Renews the lease of an entry still pending with this consumer (XCLAIM to itself, JUSTID: the delivery count is not
 * raised), setting its idle time so that the lease ends `ms` from now. KEYS: stream. ARGV: group, consumer, entry id,
 * idle ms.
 */
const EXTEND = `${COMMON}
local o = owned(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
if o ~= 1 then return o end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', tonumber(ARGV[4]), 'JUSTID')
return 1
`;

/**
 * Claims the entries idle longer than the lease (their consumer died, or stopped extending), for this consumer, telling
 * who held each: XPENDING IDLE from a cursor, then XCLAIM of each, in one step (no other claimer in between). Unlike
 * XAUTOCLAIM, the previous owner is known, so a lease that ran out with another consumer can be counted as an attempt.
 * An entry trimmed while pending is dropped from the pending list (nothing to deliver). KEYS: stream. ARGV: group,
 * consumer, lease ms, start ('-', or '(' and the last id seen), count.
 * Returns { the next start ('-': from the beginning again), { {entry id, fields, previous owner}, ... } }.
 */
const CLAIM = `
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[4], '+', ARGV[5])
local claimed = {}
for _, p in ipairs(pending) do
  local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], p[1])
  local entry = got[1]
  if entry and entry[2] then
    claimed[#claimed + 1] = {entry[1], entry[2], p[2]}
  else
    redis.call('XACK', KEYS[1], ARGV[1], p[1])
  end
end
local next_start = '-'
if #pending >= tonumber(ARGV[5]) then next_start = '(' .. pending[#pending][1] end
return {next_start, claimed}
`;

/**
 * Removes a consumer from its group when nothing is pending with it (a consumer removed with pending entries would
 * leave them unclaimable). KEYS: stream. ARGV: group, consumer. Returns 1 when removed.
 */
const DELETE_IDLE_CONSUMER = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/** A script with its SHA1, run by EVALSHA with EVAL as the fallback. */
export class Script {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /** Runs the script on `connection` with `keys` and `args`. */
  async run<T extends Reply = Reply>(
    connection: RedisConnection,
    keys: readonly RedisArgument[],
    args: readonly RedisArgument[],
  ): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await connection.send<T>(['EVALSHA', this.sha, ...tail]);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return connection.send<T>(['EVAL', this.source, ...tail]);
    }
  }
}

/** Every script the transport runs. */
export const SCRIPTS = {
  settleWithCopy: new Script(SETTLE_WITH_COPY),
  ackAndDelete: new Script(ACK_AND_DELETE),
  schedule: new Script(SCHEDULE),
  moveDue: new Script(MOVE_DUE),
  extend: new Script(EXTEND),
  claim: new Script(CLAIM),
  deleteIdleConsumer: new Script(DELETE_IDLE_CONSUMER),
} as const;
