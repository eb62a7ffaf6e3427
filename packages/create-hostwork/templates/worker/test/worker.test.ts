/** `npm test`: the worker and its job in a real host, jobs in an in-memory SQLite store (no server needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHostBuilder, JobClient, JobEvents, sqliteStore } from 'hostwork';
import { configure } from '../src/app.ts';
import { ImportFile } from '../src/jobs.ts';

/** A host as src/main.ts builds it; `args` are command-line configuration, which overrides hostwork.json. */
function testHost(args: string[] = []) {
  const builder = createHostBuilder({ env: {}, args, environmentName: 'Test', logging: { level: 'warn' } });
  configure(builder, sqliteStore({ path: ':memory:' }));
  return builder.build();
}

test('the worker enqueues import jobs, and they complete', async () => {
  const host = testHost(['--Import:IntervalMs=20', '--Import:Source=test-inbox']);
  const completed: string[] = [];
  const three = Promise.withResolvers<void>();
  host.services.get(JobEvents).on('completed', ({ name }) => {
    completed.push(name);
    if (completed.length === 3) three.resolve();
  });
  await host.start();
  await three.promise;
  await host.stop();
  assert.deepEqual(completed, ['import-file', 'import-file', 'import-file']);
});

test('an invalid payload is refused at enqueue and nothing is stored', async () => {
  const host = testHost(['--Import:IntervalMs=60000']);
  await host.start();
  const jobs = host.services.get(JobClient);
  // @ts-expect-error: the payload's type comes from the job's schema
  await assert.rejects(jobs.enqueue(ImportFile, { file: '' }), { code: 'HW_JOB_INVALID_PAYLOAD' });
  await host.stop();
});

test('invalid options stop the host at start, naming the key', async () => {
  const host = testHost(['--Import:IntervalMs=-1']);
  await assert.rejects(host.start(), /IntervalMs/);
});
