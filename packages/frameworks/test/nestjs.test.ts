/** NestJS running the host (`HostworkModule.forRoot({ builder })`): providers injected, lifecycle shared, in order. */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import 'reflect-metadata';
import { Body, Controller, Get, Inject, Injectable, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ApplicationLifetime,
  addJobs,
  addMessaging,
  createHostBuilder,
  defineConsumer,
  defineJob,
  defineMessage,
  Host,
  inMemoryTransport,
  JobClient,
  JobWorker,
  MessageConsumers,
  MessagePublisher,
  sqliteStore,
} from 'hostwork';
import { z } from 'zod';
import { HOSTWORK_SERVICES, HostworkModule, nestProvider, useHostwork } from '../src/nestjs.ts';

/** A Nest provider that Hostwork's job handler and consumer use (`nestProvider`). */
class Greeter {
  readonly heard: string[] = [];
  shout(text: string): string {
    return `${text.toUpperCase()}!`;
  }
}
Injectable()(Greeter);

const Echo = defineJob({
  name: 'echo',
  schema: z.object({ text: z.string() }),
  async handle({ text }, ctx) {
    return nestProvider(ctx.services, Greeter).shout(text);
  },
});

const Said = defineMessage({
  name: 'said',
  schema: z.object({ text: z.string() }),
  destination: { name: 'said' },
});
const Listener = defineConsumer({
  name: 'listener',
  transport: 'memory',
  source: { name: 'said' },
  message: Said,
  async handle({ text }, ctx) {
    nestProvider(ctx.services, Greeter).heard.push(text);
  },
});

class EchoController {
  readonly jobs: JobClient;
  readonly publisher: MessagePublisher;
  constructor(jobs: JobClient, publisher: MessagePublisher) {
    this.jobs = jobs;
    this.publisher = publisher;
  }
  async enqueue(body: { text: string }): Promise<{ id: string }> {
    const { id } = await this.jobs.enqueue(Echo, body);
    await this.publisher.send(Said, body);
    return { id };
  }
  async get(id: string): Promise<unknown> {
    return (await this.jobs.get(id)) ?? { state: 'missing' };
  }
}
Controller('echo')(EchoController);
Inject(JobClient)(EchoController, undefined, 0);
Inject(MessagePublisher)(EchoController, undefined, 1);
const descriptor = (name: 'enqueue' | 'get') =>
  Object.getOwnPropertyDescriptor(EchoController.prototype, name)!;
Post()(EchoController.prototype, 'enqueue', descriptor('enqueue'));
Body()(EchoController.prototype, 'enqueue', 0);
Get(':id')(EchoController.prototype, 'get', descriptor('get'));
Param('id')(EchoController.prototype, 'get', 0);

/** GET /ops: the consumers' and the worker's state, read through the injected Hostwork services. */
class OpsController {
  readonly consumers: MessageConsumers;
  readonly worker: JobWorker;
  constructor(consumers: MessageConsumers, worker: JobWorker) {
    this.consumers = consumers;
    this.worker = worker;
  }
  async state(): Promise<unknown> {
    return {
      consumers: this.consumers.connections,
      lag: await this.consumers.lag('listener'),
      worker: { started: this.worker.health.started, running: this.worker.runningCount },
    };
  }
}
Controller('ops')(OpsController);
Inject(MessageConsumers)(OpsController, undefined, 0);
Inject(JobWorker)(OpsController, undefined, 1);
Get()(OpsController.prototype, 'state', Object.getOwnPropertyDescriptor(OpsController.prototype, 'state')!);

describe('HostworkModule.forRoot({ builder }): the Nest application runs the host', {
  timeout: 60_000,
}, () => {
  it('starts the host at bootstrap, injects JobClient and MessagePublisher, gives handlers Nest providers, and stops the host after the HTTP server closed', async () => {
    const builder = createHostBuilder({ configuration: { Logging: { Level: 'silent' } } });
    const store = sqliteStore({ path: ':memory:' });
    addJobs(builder, { jobs: [Echo], store });
    addMessaging(builder, { transports: { memory: inMemoryTransport() }, consumers: [Listener] });
    class AppModule {}
    Module({
      imports: [HostworkModule.forRoot({ builder })],
      controllers: [EchoController],
      providers: [Greeter],
    })(AppModule);
    const app = await NestFactory.create(AppModule, { logger: false });
    useHostwork(app);
    await app.listen(0, '127.0.0.1');
    const server = app.getHttpServer() as Server;
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const host = app.get(Host);
    assert.equal(app.get(HOSTWORK_SERVICES), host.services);
    assert.equal(host.lifetime.hasStarted, true, 'the host started with the application');

    const accepted = await fetch(`${base}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'nest' }),
    });
    assert.equal(accepted.status, 201);
    const { id } = (await accepted.json()) as { id: string };
    let job: { state: string; result?: unknown } = { state: '' };
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && job.state !== 'completed') {
      job = (await (await fetch(`${base}/echo/${id}`)).json()) as typeof job;
      if (job.state !== 'completed') await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(job.state, 'completed');
    assert.equal(job.result, 'NEST!', 'the job handler used the Nest provider');
    const greeter = app.get(Greeter);
    while (Date.now() < deadline && greeter.heard.length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      greeter.heard,
      ['nest'],
      'the consumer, started with the application, used the Nest provider',
    );

    let listeningWhenStopping: boolean | undefined;
    app.get(ApplicationLifetime).onStopping(() => {
      listeningWhenStopping = server.listening;
    });
    await app.close();
    assert.equal(listeningWhenStopping, false, 'the HTTP server closed before the host began to drain');
    assert.equal(host.exitCode, 0);
    assert.ok(host.lifetime.stopping.aborted, 'the host stopped with the application');
  });

  it('injects MessageConsumers and JobWorker where the host has them, and only there', async () => {
    const builder = createHostBuilder({ configuration: { Logging: { Level: 'silent' } } });
    addJobs(builder, { jobs: [Echo], store: sqliteStore({ path: ':memory:' }) });
    const memory = inMemoryTransport();
    addMessaging(builder, { transports: { memory }, consumers: [Listener] });
    class AppModule {}
    Module({
      imports: [HostworkModule.forRoot({ builder })],
      controllers: [OpsController],
      providers: [Greeter],
    })(AppModule);
    const app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const base = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
      const host = app.get(Host);
      assert.equal(app.get(MessageConsumers), host.services.get(MessageConsumers), 'the host’s own instance');
      assert.equal(app.get(JobWorker), host.services.get(JobWorker));
      const ops = await fetch(`${base}/ops`);
      assert.equal(ops.status, 200);
      assert.deepEqual(await ops.json(), {
        consumers: [{ consumer: 'listener', transport: 'memory', connected: true }],
        lag: { running: true, transport: 'memory', lag: { messages: 0 } },
        worker: { started: true, running: 0 },
      });
    } finally {
      await app.close();
    }

    // A host with no consumers and no worker: neither is a provider, so injecting one fails at Nest's start.
    const bare = createHostBuilder({ configuration: { Logging: { Level: 'silent' } } });
    addJobs(bare, { jobs: [Echo], store: sqliteStore({ path: ':memory:' }), worker: false });
    addMessaging(bare, { transports: { memory: inMemoryTransport() } });
    const host = bare.build();
    class BareModule {}
    Module({ imports: [HostworkModule.forRoot({ host })] })(BareModule);
    const context = await NestFactory.createApplicationContext(BareModule, { logger: false });
    try {
      assert.ok(context.get(MessagePublisher) instanceof MessagePublisher);
      assert.throws(() => context.get(MessageConsumers), /MessageConsumers/);
      assert.throws(() => context.get(JobWorker), /JobWorker/);
    } finally {
      await context.close();
    }
    class NeedsOps {}
    Module({ imports: [HostworkModule.forRoot({ host })], controllers: [OpsController] })(NeedsOps);
    await assert.rejects(
      NestFactory.create(NeedsOps, { logger: false, abortOnError: false }),
      /MessageConsumers/,
    );
  });

  it('refuses options that are not exactly one of host, services, builder', () => {
    assert.throws(() => HostworkModule.forRoot({} as never), { code: 'HW_INVALID_OPTION' });
    const builder = createHostBuilder();
    assert.throws(
      () => HostworkModule.forRoot({ builder, services: builder.build().services } as never),
      /exactly one of host, services or builder/,
    );
  });
});
