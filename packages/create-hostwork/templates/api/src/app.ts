import type { Configuration, HostBuilder, JobStore } from 'hostwork';
import { addJobs } from 'hostwork';
import { HttpServer } from './http-server.ts';
import { GenerateReport } from './jobs.ts';
import { HttpOptions } from './options.ts';

/**
 * Everything the application registers, shared by src/main.ts and the tests: the HTTP server and, in the same
 * process, the job worker. `store`: where jobs live (default: SQLite at `Jobs:Sqlite:Path`).
 */
export function configure(
  builder: HostBuilder,
  store?: JobStore | ((configuration: Configuration) => JobStore),
): void {
  builder.addOptions(HttpOptions);
  addJobs(builder, {
    jobs: [GenerateReport],
    ...(store ? { store } : {}),
    worker: { queues: { default: { concurrency: 5 } } },
  });
  // Registered after the jobs: it starts last and stops first, so no request arrives once the worker stops.
  builder.services.addHostedService(HttpServer);
}
