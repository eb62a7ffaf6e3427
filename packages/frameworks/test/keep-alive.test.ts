/**
 * A keep-alive connection busy at shutdown: its request finishes, its connection is ended with the response
 * (`Connection: close`) rather than held until the keep-alive timeout, and the host stops, in every framework.
 */
import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createHostBuilder, type HostBuilder } from 'hostwork';
import { addExpressServer } from '../src/express.ts';
import { addFastifyServer } from '../src/fastify.ts';
import { addHonoServer } from '../src/hono.ts';
import { addNestServer } from '../src/nestjs.ts';

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

type Setup = (builder: HostBuilder, slow: () => Promise<string>, port: number) => void;

const frameworks: Record<string, Setup> = {
  express: (builder, slow, port) =>
    addExpressServer(
      builder,
      () => {
        const app = express();
        app.get('/slow', async (_req, res) => {
          res.send(await slow());
        });
        return app;
      },
      { port, host: '127.0.0.1' },
    ),
  fastify: (builder, slow, port) =>
    addFastifyServer(
      builder,
      () => {
        const app = Fastify();
        app.get('/slow', () => slow());
        return app;
      },
      { port, host: '127.0.0.1' },
    ),
  hono: (builder, slow, port) =>
    addHonoServer(
      builder,
      () => {
        const app = new Hono();
        app.get('/slow', async (c) => c.text(await slow()));
        return app;
      },
      { port, host: '127.0.0.1' },
    ),
  nestjs: (builder, slow, port) =>
    addNestServer(
      builder,
      async () => {
        class SlowController {
          slow(): Promise<string> {
            return slow();
          }
        }
        Controller()(SlowController);
        Get('slow')(
          SlowController.prototype,
          'slow',
          Object.getOwnPropertyDescriptor(SlowController.prototype, 'slow')!,
        );
        class AppModule {}
        Module({ controllers: [SlowController] })(AppModule);
        return NestFactory.create(AppModule, { logger: false });
      },
      { port, host: '127.0.0.1' },
    ),
};

describe('a keep-alive connection busy at shutdown', { timeout: 60_000 }, () => {
  for (const [name, setup] of Object.entries(frameworks)) {
    it(`${name}: the request finishes, the connection ends with it, the host stops`, async () => {
      const port = await freePort();
      const builder = createHostBuilder({ configuration: { Logging: { Level: 'silent' } } });
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      setup(
        builder,
        async () => {
          entered();
          await released;
          return 'finished';
        },
        port,
      );
      const host = builder.build();
      await host.start();
      const agent = new Agent({ keepAlive: true });
      try {
        let socketClosed!: () => void;
        const closedSocket = new Promise<void>((resolve) => {
          socketClosed = resolve;
        });
        const response = new Promise<{ status: number; body: string; connection: string | undefined }>(
          (resolve, reject) => {
            const req = get({ host: '127.0.0.1', port, path: '/slow', agent }, (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                body += chunk;
              });
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
              );
            });
            req.on('socket', (socket) => socket.once('close', () => socketClosed()));
            req.on('error', reject);
          },
        );
        await inside;
        host.lifetime.stopApplication('test');
        const stopped = host.stop();
        // Let the stopping hook close the server before the response is written.
        await new Promise((resolve) => setTimeout(resolve, 50));
        release();
        const answer = await response;
        assert.equal(answer.status, 200);
        assert.equal(answer.body, 'finished');
        assert.equal(answer.connection, 'close', 'the response ends its keep-alive connection');
        await closedSocket; // the server ended the connection (the agent would have kept it)
        await stopped;
        assert.equal(host.exitCode, 0);
      } finally {
        release();
        agent.destroy();
        await host.stop();
      }
    });
  }
});
