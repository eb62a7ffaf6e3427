/**
 * The NATS target of the transport conformance suite (packages/hostwork/test/transport-conformance): a fresh subject
 * per case, its stream, consumer and dead-letter stream declared by Hostwork, its dead letters read back from
 * `<stream>_dead` without taking them, and both streams deleted afterwards. The consumer's AckWait is 3 s, so the
 * lock case (a handler outliving it) and the SIGKILL case (what the killed process held comes back once its AckWait
 * runs out) run in seconds.
 *
 * `restartBroker` restarts the shared nats-server: it is set only with `{ restart: true }`, for the fault run, where
 * no other NATS test runs at the same time.
 */
import { natsTransport } from '@hostwork/nats';
import type { Destination, Headers, Transport } from 'hostwork';
import { deleteStreams, freshSubject, NATS_URL, readStream, restartServer } from './server.ts';

/** The consumers' AckWait in the suite: the lock it extends, and the wait before a killed process's messages return. */
export const CONFORMANCE_ACK_WAIT_MS = 3_000;

/** What the suite's target holds (see transport-conformance/harness.ts). */
export interface NatsConformanceTarget {
  transport(): Transport;
  readonly source: Destination;
  deadLetters(): Promise<
    readonly { readonly id: string; readonly body: Uint8Array; readonly headers: Headers }[]
  >;
  readonly lockMs: number;
  readonly supportsDelay: boolean;
  readonly processTransport: { readonly module: string; readonly export: string; readonly options: unknown };
  restartBroker?(): Promise<void>;
  cleanup(): Promise<void>;
}

/** A fresh target: see the module's comment. */
export async function natsConformanceTarget(
  options: { readonly restart?: boolean; readonly retention?: 'workqueue' | 'limits' | 'interest' } = {},
): Promise<NatsConformanceTarget> {
  const subject = freshSubject('hw-conformance');
  const source: Destination = { name: subject, options: { ackWaitMs: CONFORMANCE_ACK_WAIT_MS } };
  const transportOptions = {
    servers: NATS_URL,
    connectionName: `hostwork-conformance-${subject}`,
    ...(options.retention ? { retention: options.retention } : {}),
  };
  const transports: Transport[] = [];
  return {
    transport() {
      const transport = natsTransport(transportOptions);
      transports.push(transport);
      return transport;
    },
    source,
    lockMs: CONFORMANCE_ACK_WAIT_MS,
    supportsDelay: true,
    // The SIGKILL case's consumer process builds its own: natsTransport({ servers, connectionName }).
    processTransport: {
      module: import.meta.resolve('@hostwork/nats'),
      export: 'natsTransport',
      options: { ...transportOptions, connectionName: `${transportOptions.connectionName}-process` },
    },
    async deadLetters() {
      return (await readStream(`${subject}_dead`)).map((m) => ({
        id: m.id ?? '',
        body: m.body,
        headers: m.headers,
      }));
    },
    ...(options.restart ? { restartBroker: restartServer } : {}),
    async cleanup() {
      await Promise.allSettled(transports.map((t) => t.close()));
      await deleteStreams(subject, `${subject}_dead`);
    },
  };
}
