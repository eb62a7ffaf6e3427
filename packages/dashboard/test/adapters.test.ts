/** The framework adapters, each with the real framework: the page, the API and an action, under a base path. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import 'reflect-metadata';
import {
  Controller,
  Get,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  RequestMethod,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { type JobStore, sqliteStore } from 'hostwork';
import { expressDashboard, fastifyDashboard, honoDashboard, nestDashboard } from '../src/adapters.ts';
import type { DashboardOptions } from '../src/dashboard-options.ts';
import { type Seeded, seed } from './support/seed.ts';
import { loadAssets } from './support/server.ts';

const BASIC = { username: 'admin', password: 'correct horse battery' };
const AUTH = {
  authorization: `Basic ${Buffer.from(`${BASIC.username}:${BASIC.password}`).toString('base64')}`,
};

let store: JobStore;
let seeded: Seeded;
let options: DashboardOptions;
before(async () => {
  await loadAssets();
  store = sqliteStore({ path: ':memory:' });
  await store.migrate();
  seeded = await seed(store);
  options = { store, basePath: '/admin/jobs', auth: { kind: 'basic', ...BASIC } };
});
after(() => store.close());

/** Drives a mounted dashboard at `url` (its base): the page, the API, refusals, one action with its CSRF token. */
async function exercise(url: string, origin: string, retryId: string): Promise<void> {
  const page = await fetch(`${url}/`, { headers: AUTH });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/admin\/jobs\/assets\/dashboard\.js"><\/script>/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const token = /<meta name="hostwork-csrf" content="([^"]+)">/.exec(html)![1]!;
  const cookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
  assert.equal((await fetch(`${url}/assets/dashboard.js`, { headers: AUTH })).status, 200);
  assert.equal((await fetch(`${url}/api/overview`)).status, 401);
  const jobs = await fetch(`${url}/api/jobs?state=dead&payload=customer.id%3D42`, { headers: AUTH });
  assert.deepEqual(
    ((await jobs.json()) as { jobs: { id: string }[] }).jobs.map((j) => j.id),
    [seeded.dead[0]],
  );
  const refused = await fetch(`${url}/api/jobs/${retryId}/retry`, { method: 'POST', headers: AUTH });
  assert.equal(refused.status, 403);
  const action = await fetch(`${url}/api/jobs/bulk`, {
    method: 'POST',
    headers: { ...AUTH, cookie, 'x-hostwork-csrf': token, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'retry', ids: [retryId] }),
  });
  assert.equal(action.status, 200);
  assert.equal(((await action.json()) as { done: number }).done, 1);
  assert.equal((await store.get(retryId))?.state, 'pending');
  // Routes of the application outside the base path are the application's.
  const outside = await fetch(`${origin}/hello`);
  assert.equal(await outside.text(), 'app');
}

/** Puts retried jobs back to dead between adapters (each adapter retries one). */
async function deadJob(): Promise<string> {
  const [id] = (
    await store.insert([
      {
        name: 'x',
        queue: 'adapters',
        payload: '{}',
        priority: 0,
        runAt: 0,
        maxAttempts: 1,
        timeoutMs: 0,
        uniqueKey: null,
        backoff: null,
      },
    ])
  ).map((r) => r.id);
  const claimed = await store.claim({
    queue: 'adapters',
    limit: 1,
    owner: 'w',
    leaseMs: 60_000,
    now: Date.now(),
  });
  assert.equal(claimed.jobs.length, 1);
  await store.settle(
    'w',
    [{ id: id!, kind: 'dead', error: { attempt: 1, at: 0, message: 'boom', kind: 'error' } }],
    Date.now(),
  );
  return id!;
}

async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('framework adapters', () => {
  it('Express: app.use(expressDashboard(...)), with express.json() before it', async () => {
    const app = express();
    app.use(express.json());
    app.use(expressDashboard(options));
    app.get('/hello', (_req, res) => {
      res.send('app');
    });
    const server = createServer(app);
    const origin = await listen(server);
    try {
      await exercise(`${origin}/admin/jobs`, origin, await deadJob());
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('Express, mounted on a path: app.use("/admin/jobs", ...) sees the full path through originalUrl', async () => {
    const app = express();
    app.use('/admin/jobs', expressDashboard(options));
    app.get('/hello', (_req, res) => {
      res.send('app');
    });
    const server = createServer(app);
    const origin = await listen(server);
    try {
      await exercise(`${origin}/admin/jobs`, origin, await deadJob());
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('Fastify: fastifyDashboard(app, ...)', async () => {
    const app = Fastify();
    fastifyDashboard(app, options);
    app.get('/hello', async () => 'app');
    await app.listen({ port: 0, host: '127.0.0.1' });
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      await exercise(`${origin}/admin/jobs`, origin, await deadJob());
    } finally {
      await app.close();
    }
  });

  it('Hono: app.all(base and base/*, honoDashboard(...))', async () => {
    const app = new Hono();
    const dashboard = honoDashboard(options);
    app.all('/admin/jobs', dashboard);
    app.all('/admin/jobs/*', dashboard);
    app.get('/hello', (c) => c.text('app'));
    // Hono's own Fetch entry point, served over node:http by the package's bridge.
    const { toFetchRequest, writeResponse } = await import('../src/node-handler.ts');
    const server = createServer((req, res) => {
      void Promise.resolve(app.fetch(toFetchRequest(req))).then((r) => writeResponse(r, res));
    });
    const origin = await listen(server);
    try {
      await exercise(`${origin}/admin/jobs`, origin, await deadJob());
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('NestJS (Express platform): consumer.apply(nestDashboard(...)).forRoutes(...) in a module', async () => {
    // Nest's decorators are plain functions: applied by hand here, as Node runs this file without a decorator transform.
    class HelloController {
      hello(): string {
        return 'app';
      }
    }
    Controller()(HelloController);
    Get('hello')(
      HelloController.prototype,
      'hello',
      Object.getOwnPropertyDescriptor(HelloController.prototype, 'hello')!,
    );
    class AppModule implements NestModule {
      configure(consumer: MiddlewareConsumer): void {
        consumer
          .apply(nestDashboard(options))
          .forRoutes({ path: 'admin/jobs{/*rest}', method: RequestMethod.ALL });
      }
    }
    Module({ controllers: [HelloController] })(AppModule);
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const origin = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    try {
      await exercise(`${origin}/admin/jobs`, origin, await deadJob());
    } finally {
      await app.close();
    }
  });

  it('a form body parsed by the framework reaches the sign-in page as a form (Express with urlencoded())', async () => {
    const app = express();
    app.use(express.urlencoded({ extended: false }));
    app.use(
      expressDashboard({
        store,
        basePath: '/ops',
        auth: { kind: 'bearer', token: 'a-long-enough-test-token' },
      }),
    );
    const server = createServer(app);
    const origin = await listen(server);
    try {
      const signed = await fetch(`${origin}/ops/login`, {
        method: 'POST',
        body: new URLSearchParams({ token: 'a-long-enough-test-token' }),
        redirect: 'manual',
      });
      assert.equal(signed.status, 303);
      assert.match(signed.headers.getSetCookie()[0] ?? '', /^hostwork_dashboard_session=/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
