/**
 * Traces under a sampler that drops some jobs, registered as an application registers it: a sampler sees the job's
 * name when an attempt starts, a sampled-out attempt records nothing (and makes no settle span), a sampled one has
 * all its attributes. The SDK is registered once for the whole file, before any host is built.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Attributes, SamplingDecision } from '@opentelemetry/api';
import type { Sampler, SamplingResult } from '@opentelemetry/sdk-trace';
import { z } from 'zod';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { jobHost, T } from '../jobs/helpers.ts';
import { registerTracing, toRecord } from './support/otel-sdk.ts';

/** Drops the spans of the job named `dropped` (enqueue and attempts), records every other one. */
class DropByJobName implements Sampler {
  readonly seen: string[] = [];
  shouldSample(
    _context: unknown,
    _traceId: string,
    name: string,
    _kind: unknown,
    attributes: Attributes,
  ): SamplingResult {
    const job = attributes['hostwork.job.name'];
    if (name.startsWith('process ')) this.seen.push(String(job));
    return {
      decision: job === 'dropped' ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED,
    };
  }
  toString(): string {
    return 'DropByJobName';
  }
}

const sampler = new DropByJobName();
const exporter = registerTracing({ sampler });

const Kept = defineJob({ name: 'kept', schema: z.object({}), handle() {} });
const Dropped = defineJob({ name: 'dropped', schema: z.object({}), handle() {} });

describe('sampled job traces', () => {
  it(
    'a sampled-out attempt records nothing and makes no settle span; a sampled one has every attribute',
    T,
    async () => {
      exporter.reset();
      const h = jobHost({ jobs: [Kept, Dropped], worker: { queues: { default: { concurrency: 1 } } } });
      await h.host.start();
      // One at a time: each job's outcome is a batch write of its own.
      for (const job of [Dropped, Kept, Dropped]) {
        const done = Promise.withResolvers<void>();
        const off = h.events.on('completed', () => done.resolve());
        const { id } = await h.client.enqueue(job, {});
        await done.promise;
        off();
        if (job === Kept) {
          const spans = exporter.getFinishedSpans().map(toRecord);
          const process_ = spans.find((s) => s.name === 'process default');
          assert.ok(process_, 'the sampled attempt is recorded');
          assert.equal(process_.attributes['messaging.message.id'], id);
          assert.equal(process_.attributes['hostwork.job.attempt'], 1);
          assert.equal(process_.attributes['hostwork.job.name'], 'kept');
        }
      }
      await h.host.stop();

      const spans = exporter.getFinishedSpans().map(toRecord);
      assert.deepEqual(
        sampler.seen,
        ['dropped', 'kept', 'dropped'],
        'the sampler saw each attempt with its job name',
      );
      assert.deepEqual(
        spans.map((s) => s.name).sort(),
        ['ack default', 'process default', 'send default'],
        'only the kept job is traced: its enqueue, its attempt and the write of its outcome',
      );
      const process_ = spans.find((s) => s.name === 'process default')!;
      const ack = spans.find((s) => s.name === 'ack default')!;
      assert.equal(ack.parentSpanId, process_.spanId);
    },
  );
});
