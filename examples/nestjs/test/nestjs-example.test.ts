import { describe, it } from 'node:test';
import { exerciseExample } from '../../../packages/frameworks/test/support/example-app.ts';

describe('examples/nestjs as a real process', { timeout: 90_000 }, () => {
  it('enqueues a job that completes, serves health, metrics and the dashboard, drains after the server closed on SIGTERM', async () => {
    await exerciseExample(new URL('../main.ts', import.meta.url).pathname);
  });
});
