/** Mistakes in the helpers' options are refused at once, naming the key and the fix. */
import assert from 'node:assert/strict';
import { createServer, IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { addHealthEndpoint, createHostBuilder } from 'hostwork';
import { hostwork as expressHostwork, jobs } from '../src/express.ts';
import { hostwork as fastifyHostwork } from '../src/fastify.ts';
import { hostwork as honoHostwork } from '../src/hono.ts';
import { addWebServer } from '../src/index.ts';

describe('options', () => {
  const services = createHostBuilder().build().services;

  it('an unknown mount option is refused by every framework, naming it', () => {
    for (const mount of [expressHostwork, fastifyHostwork, honoHostwork]) {
      assert.throws(() => mount(services, { dashbord: false } as never), {
        code: 'HW_UNKNOWN_OPTION',
        message: /unknown option 'dashbord' \(known: health, metrics, dashboard\)/,
      });
    }
  });

  it('a metrics path must start with a slash', () => {
    assert.throws(() => expressHostwork(services, { metrics: 'metrics' }), {
      code: 'HW_INVALID_OPTION',
      message: /metrics must be a path starting with '\/' or false/,
    });
  });

  it('listen options: unknown keys and bad ports are refused at registration', () => {
    const builder = createHostBuilder();
    const create = () => {
      throw new Error('not reached');
    };
    assert.throws(() => addWebServer(builder, 'S', create, { prot: 1 } as never), {
      code: 'HW_UNKNOWN_OPTION',
    });
    assert.throws(() => addWebServer(builder, 'S', create, { port: 70_000 }), /Http:Port/);
  });

  it('jobs(req) outside the middleware says how to add it', () => {
    assert.throws(() => jobs(new IncomingMessage(new Socket())), /app\.use\(hostwork\(services\)\)/);
  });

  it('a web server that fails to listen fails the host start', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const builder = createHostBuilder({ configuration: { Logging: { Level: 'silent' } } });
      addHealthEndpoint(builder, { listen: false });
      const { addExpressServer } = await import('../src/express.ts');
      addExpressServer(builder, () => (_req, res) => res.end(), { port, host: '127.0.0.1' });
      const host = builder.build();
      await assert.rejects(host.start(), /EADDRINUSE|address already in use/);
    } finally {
      taken.close();
    }
  });
});
