/** The web server in the host, in process: a request in flight at shutdown finishes, new connections are refused. */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { addHealthEndpoint, createHostBuilder } from 'hostwork';
import { addHonoServer, type HostworkEnv, hostwork } from '../src/hono.ts';

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** GET over a connection of its own: status and body, or the connection error's code. */
function fresh(port: number, path: string): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('a web server run by the host', { timeout: 30_000 }, () => {
  it('finishes a request in flight at shutdown, refuses new connections, and works in a host without jobs', async () => {
    const port = await freePort();
    const builder = createHostBuilder({ configuration: { Logging: { Level: 'silent' } } });
    addHealthEndpoint(builder, { listen: false });
    let entered!: () => void;
    const slowEntered = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    addHonoServer(
      builder,
      (services) => {
        const app = new Hono<HostworkEnv>();
        app.use(hostwork(services));
        app.get('/hello', (c) => c.text(c.var.jobs === undefined ? 'no jobs' : 'jobs'));
        app.get('/slow', async (c) => {
          entered();
          await released;
          return c.text('finished');
        });
        return app;
      },
      { port, host: '127.0.0.1' },
    );
    const host = builder.build();
    await host.start();
    try {
      assert.deepEqual(await fresh(port, '/hello'), { status: 200, body: 'no jobs' });
      const ready = await fresh(port, '/healthz/ready');
      assert.equal(typeof ready === 'object' && ready.status, 200);

      const slow = fresh(port, '/slow');
      await slowEntered;
      host.lifetime.stopApplication('test');
      const stopped = host.stop();
      // With the request still in flight, new connections are refused; until the stopping hook closed the server, a
      // readiness probe that got in sees 503 (the stop was requested), never 200.
      let answer = await fresh(port, '/healthz/ready');
      const deadline = Date.now() + 10_000;
      while (answer !== 'ECONNREFUSED' && Date.now() < deadline) {
        assert.equal(typeof answer === 'object' && answer.status, 503, JSON.stringify(answer));
        await new Promise((resolve) => setTimeout(resolve, 10));
        answer = await fresh(port, '/healthz/ready');
      }
      assert.equal(answer, 'ECONNREFUSED');
      release();
      assert.deepEqual(await slow, { status: 200, body: 'finished' });
      await stopped;
      assert.equal(host.exitCode, 0);
    } finally {
      release();
      await host.stop();
    }
  });
});
