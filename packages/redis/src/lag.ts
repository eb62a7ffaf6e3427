/**
 * A consumer group's lag, for the `consumer-lag:<consumer>` health check: XINFO GROUPS's `lag` (Redis 7: the entries
 * of the stream the group has not been delivered yet), and the age of the first of them from its id (an XRANGE of one
 * entry after the group's last-delivered id, when entries wait). Read only when a probe asks.
 */
import type { ConsumerLag } from 'hostwork';
import type { RedisConnection, Reply } from './connection.ts';
import type { ResolvedStream } from './redis-transport-options.ts';

/**
 * The lag of `source`'s group, or undefined when the stream or its group does not exist, or Redis cannot count it:
 * before Redis 7, or when entries after the group's position were deleted or trimmed (XINFO reports no lag then).
 */
export async function groupLag(
  connection: RedisConnection,
  source: ResolvedStream,
): Promise<ConsumerLag | undefined> {
  let groups: Reply;
  try {
    groups = await connection.send(['XINFO', 'GROUPS', source.stream]);
  } catch (error) {
    // XINFO on a missing key answers "ERR no such key".
    if (/no such key/i.test((error as Error)?.message ?? '')) return undefined;
    throw error;
  }
  const group = Array.isArray(groups)
    ? groups.map(fields).find((g) => text(g.get('name')) === source.group)
    : undefined;
  if (group === undefined) return undefined;
  const lag = group.get('lag');
  if (typeof lag !== 'number') return undefined;
  const lastDelivered = text(group.get('last-delivered-id'));
  if (lag === 0 || lastDelivered === undefined) return { messages: lag };
  const next = await connection.send(['XRANGE', source.stream, `(${lastDelivered}`, '+', 'COUNT', '1']);
  const id = Array.isArray(next) && Array.isArray(next[0]) ? text(next[0][0]) : undefined;
  const at = id === undefined ? Number.NaN : Number(id.slice(0, id.indexOf('-')));
  return Number.isFinite(at)
    ? { messages: lag, oldestAgeMs: Math.max(0, Date.now() - at) }
    : { messages: lag };
}

/** A RESP2 map reply (a flat array of names and values) as a Map. */
function fields(reply: Reply): Map<string, Reply> {
  const map = new Map<string, Reply>();
  if (!Array.isArray(reply)) return map;
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(text(reply[i]) ?? '', reply[i + 1]!);
  return map;
}

function text(reply: Reply | undefined): string | undefined {
  if (typeof reply === 'string') return reply;
  if (Buffer.isBuffer(reply)) return reply.toString();
  return undefined;
}
