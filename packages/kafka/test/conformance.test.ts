/**
 * The transport conformance suite, unchanged, on the Kafka adapter against librdkafka's mock cluster (127.0.0.1; no
 * Kafka broker is packaged for the test machine): a fresh topic of 4 partitions per case, with its `.retry` and
 * `.dead` topics. Dead letters are read from `<topic>.dead` by offset (no group). The broker-restart case is the
 * mock's simulated restart: its broker set down (connections dropped and refused) and up again a second later, the
 * cluster's logs, groups and offsets kept, as a restarted broker keeps them on disk.
 */
import { after } from 'node:test';
import type { Transport } from 'hostwork';
import { transportConformance } from '../../hostwork/test/transport-conformance/transport-conformance.ts';
import { type KafkaTransportOptions, kafkaTransport } from '../src/index.ts';
import {
  describeWithMockCluster,
  freshTopic,
  type MockCluster,
  readTopic,
  startMockCluster,
} from './support/mock-cluster.ts';

describeWithMockCluster('Kafka (librdkafka mock cluster)', () => {
  let cluster: Promise<MockCluster> | undefined;
  const open = () => {
    cluster ??= startMockCluster();
    return cluster;
  };
  after(async () => (await cluster)?.stop());

  transportConformance(
    'kafka (librdkafka mock cluster)',
    async () => {
      const broker = await open();
      const topic = await freshTopic(broker, 'conformance', 4);
      const options: KafkaTransportOptions = {
        brokers: [broker.bootstrap],
        // Short, so a killed member is evicted (and its partitions reassigned) within the case's waits.
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        rebalanceTimeoutMs: 10_000,
        drainTimeoutMs: 3_000,
        fetchMaxWaitMs: 200,
        reconnectMaxMs: 1_000,
      };
      const transports: Transport[] = [];
      return {
        transport: () => {
          const transport = kafkaTransport(options);
          transports.push(transport);
          return transport;
        },
        source: { name: topic },
        deadLetters: async () =>
          (await readTopic(broker, `${topic}.dead`)).map((r) => {
            const { 'hostwork-id': id, ...headers } = r.headers;
            return { id: id ?? '', body: new Uint8Array(r.value), headers };
          }),
        processTransport: {
          module: import.meta.resolve('../src/index.ts'),
          export: 'kafkaTransport',
          options,
        },
        restartBroker: async () => {
          await broker.setBroker('down');
          await new Promise((r) => setTimeout(r, 1_000));
          await broker.setBroker('up');
        },
        cleanup: async () => {
          await Promise.all(transports.map((t) => t.close()));
        },
      };
    },
    { locks: false, restart: true, kill: true },
  );
});
