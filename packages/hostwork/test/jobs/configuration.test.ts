import { describe, it } from 'node:test';
import { z } from 'zod';
import { ErrorCodes } from '../../src/errors.ts';
import { createHostBuilder } from '../../src/hosting/index.ts';
import { addJobs } from '../../src/jobs/add-jobs.ts';
import { defineJob } from '../../src/jobs/job-definition.ts';
import { expectThrow } from './helpers.ts';

// The Jobs configuration section: a typo in a key we own is refused with its origin, not silently ignored.

const Noop = defineJob({ name: 'noop', schema: z.object({}), handle() {} });

describe('jobs configuration keys', () => {
  it('refuses an unknown Jobs:Sqlite key, naming it, its origin and the known keys', () => {
    const builder = createHostBuilder({
      env: { JOBS__SQLITE__PAHT: '/tmp/x.db' },
      args: [],
      logging: { level: 'silent' },
    });
    expectThrow(
      () => addJobs(builder, { jobs: [Noop], worker: false }),
      ErrorCodes.UNKNOWN_OPTION,
      'JOBS:SQLITE:PAHT',
      'environment variable JOBS__SQLITE__PAHT',
      'Jobs:Sqlite:Path',
    );
  });

  it('accepts Jobs:Sqlite:Path in any casing, and leaves other Jobs keys to the application', () => {
    const builder = createHostBuilder({
      env: { JOBS__SQLITE__PATH: '/tmp/x.db', JOBS__POSTGRES__SCHEMA: 'app' },
      args: ['--jobs:sqlite:path=/tmp/y.db'],
      logging: { level: 'silent' },
    });
    addJobs(builder, { jobs: [Noop], worker: false });
  });
});
