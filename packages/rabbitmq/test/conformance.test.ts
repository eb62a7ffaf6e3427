/**
 * The transport conformance suite, unchanged, on the RabbitMQ adapter against the real broker (a fresh quorum or classic
 * queue per case). Its broker-restart case runs with the fault tests (test/faults), which restart the shared broker alone.
 */
import { transportConformance } from '../../hostwork/test/transport-conformance/transport-conformance.ts';
import { describeWithBroker } from './support/broker.ts';
import { rabbitmqConformanceTarget } from './support/conformance-target.ts';

await describeWithBroker('RabbitMQ (real broker)', () => {
  transportConformance('rabbitmq (quorum queue)', () => rabbitmqConformanceTarget(), {
    locks: false,
    restart: false,
    kill: true,
    redeliveryCount: true,
  });
  transportConformance(
    'rabbitmq (classic queue)',
    () => rabbitmqConformanceTarget({ queueType: 'classic' }),
    {
      locks: false,
      restart: false,
      kill: true,
      redeliveryCount: true,
    },
  );
});
