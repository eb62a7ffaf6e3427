/** `npm test`: the API and the worker in a real host on a free port, jobs in an in-memory SQLite store. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostBuilder, sqliteStore } from 'hostwork';
import { configure } from '../src/app.ts';
import { HttpServer } from '../src/http-server.ts';

async function startHost() {
  const builder = createHostBuilder({
    env: {},
    args: ['--Http:Port=0'], // the command line overrides hostwork.json: a free port
    environmentName: 'Test',
    logging: { level: 'warn' },
  });
  configure(builder, sqliteStore({ path: ':memory:' }));
  const host = builder.build();
  await host.start();
  return { host, base: `http://localhost:${host.services.get(HttpServer).port}` };
}

test('POST /reports answers 202 with a job id, and the job completes', async () => {
  const { host, base } = await startHost();
  try {
    const res = await fetch(`${base}/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'c-1', month: '2026-11' }),
    });
    assert.equal(res.status, 202);
    const { id, status } = (await res.json()) as { id: string; status: string };
    assert.equal(status, `/jobs/${id}`);
    let state = '';
    for (let i = 0; i < 200 && state !== 'completed'; i++) {
      state = ((await (await fetch(`${base}${status}`)).json()) as { state: string }).state;
      if (state !== 'completed') await sleep(10);
    }
    assert.equal(state, 'completed');
  } finally {
    await host.stop();
  }
});

test('an invalid body gets 400 naming the field, and no job is stored', async () => {
  const { host, base } = await startHost();
  try {
    const res = await fetch(`${base}/reports`, {
      method: 'POST',
      body: JSON.stringify({ customerId: 'c-1' }),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /month/);
    assert.equal((await fetch(`${base}/jobs/1`)).status, 404);
  } finally {
    await host.stop();
  }
});
