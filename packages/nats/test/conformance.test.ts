/**
 * The transport conformance suite, unchanged, on the NATS JetStream adapter against the real server (a fresh stream
 * per case), with work-queue streams (the default) and with limits streams. Its broker-restart case runs with the
 * fault tests (test/faults), which restart the shared server alone.
 */
import { transportConformance } from '../../hostwork/test/transport-conformance/transport-conformance.ts';
import { natsConformanceTarget } from './support/conformance-target.ts';
import { describeWithServer } from './support/server.ts';

await describeWithServer('NATS JetStream (real server)', () => {
  transportConformance('nats (work-queue stream)', () => natsConformanceTarget(), {
    locks: true,
    restart: false,
    kill: true,
    redeliveryCount: true,
  });
  transportConformance('nats (limits stream)', () => natsConformanceTarget({ retention: 'limits' }), {
    locks: true,
    restart: false,
    kill: true,
    redeliveryCount: true,
  });
});
