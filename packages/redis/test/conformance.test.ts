/**
 * The transport conformance suite, unchanged, on the Redis Streams adapter against the shared Redis (a fresh stream
 * per case). The shared server keeps nothing on disk, so its broker-restart case runs in test/faults against a
 * dedicated server with AOF persistence.
 */
import { transportConformance } from '../../hostwork/test/transport-conformance/transport-conformance.ts';
import { redisConformanceTarget } from './support/conformance-target.ts';
import { describeWithRedis } from './support/server.ts';

await describeWithRedis('Redis Streams (real server)', () => {
  transportConformance('redis', () => redisConformanceTarget(), { locks: true, restart: false, kill: true });
});
