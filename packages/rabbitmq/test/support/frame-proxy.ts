/**
 * A TCP pass-through between the transport and the real broker, on loopback, that reads the AMQP frames the client
 * sends and records its settle frames (basic.ack, basic.nack, basic.reject) as they go on the wire, so a test can count
 * them and check what each one covers. It can also cut every connection through it at once, as a network failure
 * would (the broker sees the TCP connection drop and requeues what was not acked). Nothing is changed or mocked: the
 * bytes are forwarded as they come, both ways.
 */
import net from 'node:net';
import { RABBITMQ_URL } from './broker.ts';

/** A settle frame the client sent, as the broker receives it. */
export interface SettleFrameSeen {
  readonly method: 'ack' | 'nack' | 'reject';
  /** The AMQP channel number. */
  readonly channel: number;
  readonly tag: number;
  readonly multiple: boolean;
  readonly requeue: boolean;
  /** Which client connection through the proxy (0 for the first). */
  readonly connection: number;
}

export interface FrameProxy {
  /** The broker URL through the proxy (same credentials and vhost as RABBITMQ_URL). */
  readonly url: string;
  /** Every settle frame sent so far, in order. */
  readonly settles: SettleFrameSeen[];
  /** Drops every connection through the proxy now (both sides). */
  cut(): void;
  close(): Promise<void>;
}

const PROTOCOL_HEADER_LENGTH = 8;
const FRAME_METHOD = 1;
const BASIC = 60;
const BASIC_ACK = 80;
const BASIC_REJECT = 90;
const BASIC_NACK = 120;

/** Starts a proxy to the broker at RABBITMQ_URL on a free loopback port. */
export async function frameProxy(): Promise<FrameProxy> {
  const target = new URL(RABBITMQ_URL);
  const settles: SettleFrameSeen[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    const connection = connections++;
    const broker = net.connect({ host: target.hostname, port: Number(target.port || 5672) });
    sockets.add(client);
    sockets.add(broker);
    const end = () => {
      client.destroy();
      broker.destroy();
      sockets.delete(client);
      sockets.delete(broker);
    };
    client.on('error', end);
    broker.on('error', end);
    client.on('close', end);
    broker.on('close', end);
    broker.on('data', (chunk) => client.write(chunk));
    let pending: Buffer = Buffer.alloc(0);
    let headerSeen = false;
    client.on('data', (chunk: Buffer) => {
      broker.write(chunk);
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (!headerSeen) {
        if (pending.length < PROTOCOL_HEADER_LENGTH) return;
        pending = pending.subarray(PROTOCOL_HEADER_LENGTH);
        headerSeen = true;
      }
      // type (1), channel (2), size (4), payload (size), frame end (1)
      while (pending.length >= 7) {
        const size = pending.readUInt32BE(3);
        if (pending.length < 8 + size) break;
        const type = pending.readUInt8(0);
        const channel = pending.readUInt16BE(1);
        if (type === FRAME_METHOD && size >= 4) {
          const payload = pending.subarray(7, 7 + size);
          const classId = payload.readUInt16BE(0);
          const methodId = payload.readUInt16BE(2);
          if (
            classId === BASIC &&
            (methodId === BASIC_ACK || methodId === BASIC_NACK || methodId === BASIC_REJECT)
          ) {
            const tag = Number(payload.readBigUInt64BE(4));
            const bits = payload.readUInt8(12);
            const method = methodId === BASIC_ACK ? 'ack' : methodId === BASIC_NACK ? 'nack' : 'reject';
            settles.push({
              method,
              channel,
              tag,
              multiple: method !== 'reject' && (bits & 1) === 1,
              requeue: method === 'nack' ? (bits & 2) === 2 : method === 'reject' ? (bits & 1) === 1 : false,
              connection,
            });
          }
        }
        pending = pending.subarray(8 + size);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(RABBITMQ_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    settles,
    cut() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
