/**
 * The transport conformance suite on the in-memory transport: without locks, and with locks that must be extended.
 * Its broker lives in the test process, so the SIGKILL case (a consumer in a process of its own) is not run.
 */
import { InMemoryBroker, inMemoryTransport } from '../../src/messaging/in-memory-transport.ts';
import { transportConformance } from '../transport-conformance/transport-conformance.ts';

let sources = 0;

transportConformance(
  'memory',
  async () => {
    const broker = new InMemoryBroker();
    const source = { name: `source-${++sources}` };
    return {
      transport: () => inMemoryTransport({ broker }),
      source,
      deadLetters: async () => broker.deadLetters(source.name),
      restartBroker: async () => broker.restart(),
    };
  },
  { locks: false, restart: true, kill: false, redeliveryCount: true },
);

transportConformance(
  'memory with expiring locks',
  async () => {
    const broker = new InMemoryBroker({ lockMs: 300 });
    const source = { name: `locked-${++sources}` };
    return {
      transport: () => inMemoryTransport({ broker }),
      source,
      deadLetters: async () => broker.deadLetters(source.name),
      lockMs: 300,
      restartBroker: async () => broker.restart(),
    };
  },
  { locks: true, restart: true, kill: false, redeliveryCount: true },
);
