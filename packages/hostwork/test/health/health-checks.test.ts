/**
 * Health checks: registration errors, the check service (parallel, timeouts, throws, worst status, tag filters) and
 * the endpoint over real HTTP on its own port: probes during a slow start, readiness turning 503 the moment a stop
 * begins while a service is still draining, liveness answering until the host has stopped, then the port closed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes } from '../../src/errors.ts';
import { addHealthEndpoint } from '../../src/health/add-health-endpoint.ts';
import { HealthCheckService } from '../../src/health/health-check-service.ts';
import { addHealthCheck, HealthChecks } from '../../src/health/health-checks.ts';
import { HealthEndpoint } from '../../src/health/health-endpoint.ts';
import { HealthServer } from '../../src/health/health-server.ts';
import { createHostBuilder, type HostBuilder } from '../../src/hosting/host-builder.ts';
import type { HostedService } from '../../src/hosting/hosted-service.ts';
import { LogCapture } from '../hosting/helpers.ts';
import { expectThrow } from '../support/errors.ts';

function builder(): HostBuilder {
  return createHostBuilder({
    env: {},
    args: [],
    logging: { destination: new LogCapture(), level: 'warn', pretty: false },
    host: { shutdownTimeout: 10_000 },
  });
}

async function probe(port: number, path: string, method = 'GET') {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as
      | {
          status: string;
          entries?: Record<
            string,
            {
              status: string;
              description?: string;
              error?: string;
              tags: string[];
              durationMs: number;
              data?: Record<string, unknown>;
            }
          >;
        }
      | undefined,
  };
}

describe('registering health checks', () => {
  it('refuses a duplicate name, a bad timeout, failure status or tag, and an unknown option, naming the fix', () => {
    const checks = new HealthChecks();
    checks.add('db', () => ({ status: 'healthy' }));
    expectThrow(
      () => checks.add('db', () => ({ status: 'healthy' })),
      ErrorCodes.INVALID_OPTION,
      "'db'",
      'own name',
    );
    expectThrow(
      () => checks.add('a', () => ({ status: 'healthy' }), { timeout: 0 }),
      ErrorCodes.INVALID_OPTION,
      'timeout',
    );
    expectThrow(
      () => checks.add('b', () => ({ status: 'healthy' }), { failureStatus: 'broken' as never }),
      ErrorCodes.INVALID_OPTION,
      'failureStatus',
    );
    expectThrow(
      () => checks.add('c', () => ({ status: 'healthy' }), { tags: [''] }),
      ErrorCodes.INVALID_OPTION,
      'tags',
    );
    expectThrow(
      () => checks.add('d', () => ({ status: 'healthy' }), { tag: ['ready'] } as never),
      ErrorCodes.UNKNOWN_OPTION,
      "'tag'",
      'tags',
    );
    expectThrow(() => addHealthEndpoint(builder(), { port: 70_000 }), ErrorCodes.INVALID_OPTION, 'port');
    expectThrow(
      () => addHealthEndpoint(builder(), { basePath: 'health' }),
      ErrorCodes.INVALID_OPTION,
      'basePath',
    );
  });
});

describe('the health check service', () => {
  it('runs the selected checks at once, each within its timeout; a throw or a timeout is its failure status', async () => {
    const checks = new HealthChecks();
    const began = performance.now();
    checks.add(
      'slow-ok',
      async () => {
        await sleep(150);
        return { status: 'healthy', data: { figure: 1 } };
      },
      { tags: ['ready'] },
    );
    checks.add(
      'hangs',
      ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      {
        tags: ['ready'],
        timeout: 100,
        failureStatus: 'degraded',
      },
    );
    checks.add(
      'throws',
      () => {
        throw new Error('disk on fire');
      },
      { tags: ['live'] },
    );
    checks.add('not-a-result', () => ({ state: 'fine' }) as never, { tags: ['other'] });
    const service = new HealthCheckService(checks, createHostBuilder({ env: {}, args: [] }).build().services);

    const ready = await service.check({ probe: 'ready' });
    assert.ok(performance.now() - began < 1_000, 'in parallel, not one after the other');
    assert.equal(ready.status, 'degraded', 'the worst of healthy and degraded');
    assert.deepEqual(Object.keys(ready.entries), ['slow-ok', 'hangs']);
    assert.equal(ready.entries['slow-ok']!.status, 'healthy');
    assert.deepEqual(ready.entries['slow-ok']!.data, { figure: 1 });
    assert.ok(ready.entries['slow-ok']!.durationMs >= 140);
    assert.equal(ready.entries.hangs!.status, 'degraded');
    assert.match(ready.entries.hangs!.error!, /Timed out after 100 ms/);

    const all = await service.check();
    assert.equal(all.status, 'unhealthy');
    assert.equal(all.entries.throws!.error, 'disk on fire');
    assert.equal(all.entries['not-a-result']!.status, 'unhealthy');
    assert.match(all.entries['not-a-result']!.error!, /not \{ status/);
    assert.deepEqual(Object.keys((await service.check({ tags: ['live', 'other'] })).entries), [
      'throws',
      'not-a-result',
    ]);
    assert.deepEqual(
      await service.check({ probe: 'startup' }).then((r) => [r.status, Object.keys(r.entries)]),
      ['healthy', []],
    );
  });

  it('answers as a Fetch handler and leaves other paths alone', async () => {
    const b = builder();
    addHealthCheck(b, 'cache', () => ({ status: 'degraded', description: 'slow' }), {
      tags: ['ready', 'cache'],
    });
    const host = b.build();
    const endpoint = new HealthEndpoint(host.services.get(HealthCheckService), { basePath: '/ops/health/' });
    const ready = await endpoint.fetch(new Request('http://x/ops/health/ready?tag=nothing,cache'));
    assert.equal(ready?.status, 200, 'degraded answers 200');
    const body = (await ready!.json()) as { status: string; entries: Record<string, unknown> };
    assert.equal(body.status, 'degraded');
    assert.deepEqual(Object.keys(body.entries), ['cache'], 'the tag filter keeps the cache check only');
    const unfiltered = await endpoint.fetch(new Request('http://x/ops/health/ready'));
    assert.equal(unfiltered?.status, 503, 'the host check: the host has not started');
    assert.equal(ready!.headers.get('cache-control'), 'no-store, max-age=0');
    assert.equal(await endpoint.fetch(new Request('http://x/ops/other')), undefined);
    assert.equal(await endpoint.fetch(new Request('http://x/ops/health/unknown')), undefined);
    assert.equal((await endpoint.fetch(new Request('http://x/ops/health', { method: 'POST' })))?.status, 405);
  });
});

/** A hosted service whose start and stop wait until released. */
class Gate implements HostedService {
  static starting = Promise.withResolvers<void>();
  static stopping = Promise.withResolvers<void>();
  static startCalled = false;
  static stopCalled = false;
  async start(): Promise<void> {
    Gate.startCalled = true;
    await Gate.starting.promise;
  }
  async stop(): Promise<void> {
    Gate.stopCalled = true;
    await Gate.stopping.promise;
  }
}

describe('the health endpoint on its own port', () => {
  it('answers during a slow start, turns readiness to 503 as soon as the stop begins, then closes', {
    timeout: 30_000,
  }, async () => {
    const b = builder();
    addHealthEndpoint(b, { port: 0, host: '127.0.0.1' });
    addHealthCheck(b, 'flaky-dependency', () => ({ status: 'degraded', description: 'answers slowly' }), {
      tags: ['ready'],
    });
    b.services.addHostedService(Gate);
    const host = b.build();
    const starting = host.start();
    while (!Gate.startCalled) await sleep(5);
    const port = host.services.get(HealthServer).port!;

    const startup = await probe(port, '/healthz/startup');
    assert.equal(startup.status, 503, 'not started yet');
    assert.equal(startup.body!.entries!.host!.description, 'The host is starting');
    assert.equal((await probe(port, '/healthz/live')).status, 200, 'alive while starting');
    Gate.starting.resolve();
    await starting;

    const ready = await probe(port, '/healthz/ready');
    assert.equal(ready.status, 200, 'degraded still takes traffic');
    assert.equal(ready.body!.status, 'degraded');
    assert.deepEqual(Object.keys(ready.body!.entries!), ['host', 'flaky-dependency']);
    assert.equal(ready.headers.get('cache-control'), 'no-store, max-age=0');
    const live = await probe(port, '/healthz/live');
    assert.deepEqual(Object.keys(live.body!.entries!), ['event-loop']);
    assert.equal((await probe(port, '/healthz')).status, 200);
    assert.equal((await probe(port, '/healthz/ready', 'HEAD')).status, 200);
    assert.equal((await probe(port, '/healthz/ready', 'DELETE')).status, 405);
    assert.equal((await probe(port, '/metrics')).status, 404);

    // The stop: readiness says 503 while the Gate service still drains; liveness stays 200.
    const stopping = host.stop();
    while (!Gate.stopCalled) await sleep(5);
    const draining = await probe(port, '/healthz/ready');
    assert.equal(draining.status, 503);
    assert.match(draining.body!.entries!.host!.description!, /stopping/);
    assert.equal((await probe(port, '/healthz/live')).status, 200);
    Gate.stopping.resolve();
    await stopping;
    await assert.rejects(probe(port, '/healthz/live'), 'the port is closed once the host stopped');
  });

  it('fails the start with the port named when the port is taken', async () => {
    const first = builder();
    addHealthEndpoint(first, { port: 0, host: '127.0.0.1' });
    const a = first.build();
    await a.start();
    try {
      const second = builder();
      addHealthEndpoint(second, { port: a.services.get(HealthServer).port!, host: '127.0.0.1' });
      const b = second.build();
      await assert.rejects(b.start(), /health endpoint cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    } finally {
      await a.stop();
    }
  });

  it('with details: false shows the overall status only', async () => {
    const b = builder();
    addHealthEndpoint(b, { port: 0, host: '127.0.0.1', details: false });
    addHealthCheck(b, 'secret', () => ({ status: 'healthy', data: { connectionString: 'postgres://…' } }));
    const host = b.build();
    await host.start();
    try {
      const all = await probe(host.services.get(HealthServer).port!, '/healthz');
      assert.deepEqual(all.body, { status: 'healthy' });
    } finally {
      await host.stop();
    }
  });
});
