/**
 * The transport conformance suite, unchanged, on the SQS adapter against the fauxqs emulator (127.0.0.1): the consumer
 * engine over `sqsTransport`, a fresh queue per case, the emulator stopped and started again for the broker-restart
 * case. Dead letters are read from `<queue>-dead` through a transport of their own, each acknowledged once read.
 */
import { after } from 'node:test';
import type { Delivery, Transport } from 'hostwork';
import {
  type DeadLetteredMessage,
  transportConformance,
} from '../../hostwork/test/transport-conformance/transport-conformance.ts';
import {
  describeWithEmulator,
  type Emulator,
  emulatorTransport,
  emulatorTransportOptions,
  freshQueue,
  startEmulator,
} from './support/emulator.ts';

/** Visibility timeout of the conformance queues: short, so the lock-extension case is quick. */
const VISIBILITY_MS = 2_000;

await describeWithEmulator('SQS (fauxqs emulator)', () => {
  let emulator: Emulator | undefined;
  const open = async () => {
    emulator ??= await startEmulator();
    return emulator;
  };
  after(() => emulator?.stop());

  transportConformance(
    'sqs (fauxqs emulator)',
    async () => {
      const broker = await open();
      const queue = freshQueue('conformance');
      const transports: Transport[] = [];
      const make = () => {
        const transport = emulatorTransport(broker, { visibilityTimeoutMs: VISIBILITY_MS });
        transports.push(transport);
        return transport;
      };
      const dead: DeadLetteredMessage[] = [];
      let reading: Promise<void> | undefined;
      const readDead = () => {
        reading ??= (async () => {
          const reader = make();
          await reader.connect();
          await reader.subscribe(
            { name: `${queue}-dead` },
            {
              prefetch: 10,
              onDelivery: (delivery: Delivery) => {
                dead.push({ id: delivery.id, body: delivery.body, headers: delivery.headers });
                void delivery.ack();
              },
            },
          );
        })();
        return reading;
      };
      return {
        transport: make,
        source: { name: queue },
        deadLetters: async () => {
          await readDead();
          return [...dead];
        },
        lockMs: VISIBILITY_MS,
        // The SIGKILL case's consumer process builds the same transport as emulatorTransport from JSON options.
        processTransport: {
          module: import.meta.resolve('../src/index.ts'),
          export: 'sqsTransport',
          options: emulatorTransportOptions(broker, { visibilityTimeoutMs: VISIBILITY_MS }),
        },
        restartBroker: async () => {
          await broker.stop();
          await broker.start();
        },
        cleanup: async () => {
          await Promise.all(transports.map((t) => t.close()));
        },
      };
    },
    { locks: true, restart: true, kill: true, redeliveryCount: true },
  );
});
