/**
 * A TCP relay on 127.0.0.1 in front of the test server, standing in for the network between the transport and
 * nats-server: `down()` cuts every connection through it and refuses new ones (a network failure, from both sides),
 * `up()` lets connections through again. The server itself is the real one and keeps running, so a test can lose a
 * connection without restarting the server other tests share.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { NATS_URL } from './server.ts';

export interface Relay {
  /** `127.0.0.1:<port>`: give it to the transport as its server. */
  readonly address: string;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function relay(): Promise<Relay> {
  const [host, port] = NATS_URL.replace(/^nats:\/\//, '').split(':');
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: host ?? '127.0.0.1', port: Number(port ?? 4222) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the relay has no port');
  return {
    address: `127.0.0.1:${address.port}`,
    down() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      open = true;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
