import type { Configuration, HostBuilder, JobStore } from 'hostwork';
import { addJobs } from 'hostwork';
import { ImportFile } from './jobs.ts';
import { ImportOptions } from './options.ts';
import { Worker } from './worker.ts';

/**
 * Everything the application registers, shared by src/main.ts and the tests. `store`: where jobs live (default: SQLite
 * at `Jobs:Sqlite:Path`).
 */
export function configure(
  builder: HostBuilder,
  store?: JobStore | ((configuration: Configuration) => JobStore),
): void {
  builder.addOptions(ImportOptions);
  addJobs(builder, {
    jobs: [ImportFile],
    ...(store ? { store } : {}),
    worker: { queues: { default: { concurrency: 5 } } },
  });
  // Registered after the jobs: it starts last and stops first, so it enqueues nothing once the job worker stops.
  builder.services.addHostedService(Worker);
}
