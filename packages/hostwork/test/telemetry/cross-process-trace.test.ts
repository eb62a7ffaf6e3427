/**
 * One trace across two processes: an HTTP client span, the server's request span (context from the `traceparent`
 * request header), the enqueue in it (PostgreSQL store), and, in a worker process of its own with its own SDK, the
 * attempt, the handler's span and the settlement. Both processes export to memory; the worker writes its spans to
 * stdout as JSON. Asserts one trace id and every parent/child and link relation.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { postgresStore } from '@hostwork/postgres';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import {
  DATABASE_URL,
  describeWithDatabase,
  dropSchema,
  freshSchemaName,
} from '../../../postgres/test/support/database.ts';
import { createHostBuilder } from '../../src/hosting/index.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import { JobClient } from '../../src/jobs/job-client.ts';
import { PlaceOrder } from './fixtures/order-job.ts';
import { assertOperations, only, registerTracing, type SpanRecord, toRecord } from './support/otel-sdk.ts';

const exporter = registerTracing();
const schemas: string[] = [];
after(async () => {
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

/** Runs the worker process until it completed one job; its spans. */
function runWorker(schema: string): Promise<SpanRecord[]> {
  const env: Record<string, string | undefined> = { ...process.env, DATABASE_URL, SCHEMA: schema, JOBS: '1' };
  delete env.NODE_TEST_CONTEXT; // the child is not a test file
  env.NODE_OPTIONS = '--conditions=hostwork-source';
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'traced-worker.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    err += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`worker exited ${code ?? signal}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as SpanRecord[]);
      } catch (error) {
        reject(new Error(`worker output is not spans (${(error as Error).message}): ${out}\n${err}`));
      }
    });
  });
}

await describeWithDatabase('one trace across processes (PostgreSQL)', () => {
  it('HTTP request → enqueue → (worker process) attempt → handler span and settlement', {
    timeout: 60_000,
  }, async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const builder = createHostBuilder({
      env: {},
      args: [],
      contentRoot: import.meta.dirname,
      logging: { level: 'error', pretty: false },
    });
    addJobs(builder, {
      jobs: [PlaceOrder],
      store: postgresStore({ connectionString: DATABASE_URL, schema, poolSize: 2 }),
      worker: false,
    });
    const host = builder.build();
    await host.start();
    const client = host.services.get(JobClient);
    const tracer = trace.getTracer('web');

    // The API: a request span from the caller's traceparent, the job enqueued inside it.
    const server = createServer((req, res) => {
      const parent = propagation.extract(ROOT_CONTEXT, req.headers);
      tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, parent, async (span) => {
        try {
          const { id } = await client.enqueue(PlaceOrder, { orderId: 'o-42' });
          res.writeHead(202, { 'content-type': 'text/plain' }).end(id);
        } catch (error) {
          res.writeHead(500).end(String(error));
        } finally {
          span.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;

    let jobId = '';
    try {
      // The caller: a client span whose context goes out in the request's traceparent header.
      await tracer.startActiveSpan('place order', { kind: SpanKind.CLIENT }, async (span) => {
        const headers: Record<string, string> = {};
        propagation.inject(context.active(), headers);
        assert.match(headers.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        const response = await fetch(url, { method: 'POST', headers });
        assert.equal(response.status, 202);
        jobId = await response.text();
        span.end();
      });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const workerSpans = await runWorker(schema);
    await host.stop();

    const local = exporter.getFinishedSpans().map(toRecord);
    const callerSpan = only(local, 'place order');
    const request = only(local, 'POST /orders');
    const send = only(local, 'send orders');
    const process_ = only(workerSpans, 'process orders');
    const handler = only(workerSpans, 'reserve stock');
    const ack = only(workerSpans, 'ack orders');

    const traceIds = new Set([...local, ...workerSpans].map((s) => s.traceId));
    assert.deepEqual([...traceIds], [callerSpan.traceId], 'every span of both processes is in one trace');

    assert.equal(
      request.parentSpanId,
      callerSpan.spanId,
      'the request continues the caller (traceparent header)',
    );
    assert.equal(send.parentSpanId, request.spanId, 'the enqueue is a child of the request');
    assert.equal(send.kind, SpanKind.PRODUCER);
    assert.equal(send.attributes['messaging.message.id'], jobId);

    assert.equal(process_.kind, SpanKind.CONSUMER);
    assert.equal(
      process_.parentSpanId,
      send.spanId,
      'the attempt, in the worker process, is a child of the enqueue',
    );
    assert.deepEqual(process_.links, [{ traceId: send.traceId, spanId: send.spanId }], 'and linked to it');
    assert.equal(process_.attributes['messaging.message.id'], jobId);
    assert.equal(process_.attributes['messaging.system'], 'hostwork');
    assert.equal(process_.attributes['messaging.destination.name'], 'orders');
    assert.equal(process_.attributes['hostwork.job.attempt'], 1);

    assert.equal(handler.parentSpanId, process_.spanId, "the handler's span is a child of the attempt");
    assert.equal(ack.parentSpanId, process_.spanId, 'the settlement is a child of the attempt');
    assert.equal(ack.attributes['messaging.operation.type'], 'settle');
    assert.equal(ack.attributes['messaging.operation.name'], 'ack');
    assert.deepEqual(assertOperations(local), { send: 1 });
    assert.deepEqual(assertOperations(workerSpans), { process: 1, settle: 1 }, 'in the worker process too');
  });
});
