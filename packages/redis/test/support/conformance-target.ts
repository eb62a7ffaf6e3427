/**
 * The Redis target of the transport conformance suite (packages/hostwork/test/transport-conformance): a fresh stream
 * per case on the shared server (or on a dedicated one, for the restart case), its dead letters read back from
 * `<stream>:dead` without taking them, and every key deleted afterwards. Deliveries carry a short lease (2 s) so the
 * lock-extension and SIGKILL cases are quick.
 */
import { type RedisTransportOptions, redisTransport } from '@hostwork/redis';
import type { Destination, Headers, Transport } from 'hostwork';
import { deleteStreamKeys, freshStream, REDIS_URL, readStream } from './server.ts';

/** The lease of the conformance streams: short, so a lease that runs out does within the cases' time. */
export const LEASE_MS = 2_000;

/** What the suite's target holds (see transport-conformance/harness.ts). */
export interface RedisConformanceTarget {
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
export async function redisConformanceTarget(
  options: { readonly url?: string; readonly restart?: () => Promise<void> } = {},
): Promise<RedisConformanceTarget> {
  const url = options.url ?? REDIS_URL;
  const stream = freshStream('hw-conformance');
  const transportOptions = {
    url,
    leaseMs: LEASE_MS,
    connectionName: `hw-conformance-${stream}`,
  } satisfies RedisTransportOptions;
  const transports: Transport[] = [];
  return {
    transport() {
      const transport = redisTransport(transportOptions);
      transports.push(transport);
      return transport;
    },
    source: { name: stream },
    lockMs: LEASE_MS,
    supportsDelay: true,
    // The SIGKILL case's consumer process builds its own: redisTransport(options).
    processTransport: {
      module: import.meta.resolve('@hostwork/redis'),
      export: 'redisTransport',
      options: { ...transportOptions, connectionName: `hw-conformance-${stream}-process` },
    },
    deadLetters: async () =>
      (await readStream(`${stream}:dead`, url)).map((e) => ({ id: e.id, body: e.body, headers: e.headers })),
    ...(options.restart ? { restartBroker: options.restart } : {}),
    async cleanup() {
      await Promise.allSettled(transports.map((t) => t.close()));
      await deleteStreamKeys(stream, url);
    },
  };
}
