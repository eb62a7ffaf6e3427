import type { Configuration } from '../config/configuration.ts';
import { Configuration as ConfigurationKey } from '../config/configuration.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { healthChecksOf } from '../health/health-checks.ts';
import type { HostBuilder } from '../hosting/host-builder.ts';
import { LoggerFactory } from '../logging/logger-factory.ts';
import { sqliteStore } from '../stores/sqlite/sqlite-store.ts';
import { JobClient } from './job-client.ts';
import type { JobContract } from './job-contract.ts';
import { JobEvents } from './job-events.ts';
import { addJobHealthChecks, type JobHealthOptions } from './job-health-checks.ts';
import { JobRegistry } from './job-registry.ts';
import { JobStore } from './job-store.ts';
import { JobWorker } from './job-worker.ts';
import { LocalDispatch } from './local-dispatch.ts';
import { QueueConsumers } from './queue-consumers.ts';
import type { ScheduleDefinition } from './schedule.ts';
import { resolveWorkerOptions, WorkerOptions } from './worker-options.ts';

/** The default SQLite file, relative to the working directory; configurable as `Jobs:Sqlite:Path`. */
export const DEFAULT_SQLITE_PATH = '.data/hostwork-jobs.db';

/** What {@link addJobs} sets up. */
export interface JobsSetup {
  /**
   * Every job this application enqueues or runs: definitions (`defineJob`), and contracts (`defineJobContract`) of
   * jobs it only enqueues. A process with a worker needs a handler for every job of the queues its worker consumes.
   */
  // biome-ignore lint/suspicious/noExplicitAny: contracts of every payload type live in one list.
  readonly jobs: readonly JobContract<any, any>[];
  /** Recurring jobs. */
  // biome-ignore lint/suspicious/noExplicitAny: schedules of every payload type live in one list.
  readonly schedules?: readonly ScheduleDefinition<any>[];
  /**
   * The store, or a function building it from configuration. Default: SQLite at `Jobs:Sqlite:Path`
   * (default `.data/hostwork-jobs.db`).
   */
  readonly store?: JobStore | ((configuration: Configuration) => JobStore);
  /** Worker options, or `false` for a process that only enqueues (an API next to separate workers). */
  readonly worker?: Partial<WorkerOptions> | false;
  /** Thresholds of the job engine's health checks (`jobs-worker`, `jobs-store`, `jobs-backlog`). */
  readonly health?: JobHealthOptions;
}

const KEYS = ['jobs', 'schedules', 'store', 'worker', 'health'];

/** The configuration keys of the `Jobs` section (case-insensitive, as all configuration keys). */
const CONFIGURATION_KEYS = ['Jobs:Sqlite:Path'];

/**
 * A typo in a `Jobs:Sqlite:` key (JOBS__SQLITE__PAHT) would silently use the default database: refuse it instead.
 * Other `Jobs:` keys are left to the application (e.g. its own `Jobs:Postgres:ConnectionString`).
 */
function assertKnownConfigurationKeys(configuration: Configuration): void {
  const known = CONFIGURATION_KEYS.map((k) => k.toLowerCase());
  for (const key of configuration.keys()) {
    const lower = key.toLowerCase();
    if (lower.startsWith('jobs:sqlite:') && !known.includes(lower)) {
      throw new HostworkError(
        ErrorCodes.UNKNOWN_OPTION,
        `Unknown configuration key '${key}' (from ${configuration.origin(key)}). Known keys of the Jobs:Sqlite section: ${CONFIGURATION_KEYS.join(', ')}.`,
      );
    }
  }
}

/**
 * A worker claims every job of its queues: a job of one of them registered here by its contract only would end dead
 * when claimed (no handler). Refuse that at setup, naming the job and both fixes.
 */
function assertHandlersFor(registry: JobRegistry, options: WorkerOptions): void {
  for (const { contract, hasHandler } of registry.contracts()) {
    if (hasHandler || !Object.hasOwn(options.queues, contract.defaults.queue)) continue;
    throw new HostworkError(
      ErrorCodes.JOB_HANDLER_MISSING,
      `Job '${contract.name}' is registered by its contract only, but this process's worker consumes its queue '${contract.defaults.queue}' and would claim its jobs with no handler to run them. Fix: register its handler, defineJob(contract, handle), in this process, or remove '${contract.defaults.queue}' from worker.queues (or use worker: false) and run its handler in the workers of that queue.`,
    );
  }
}

/**
 * Adds durable jobs to a host: the store (closed last, when the host stops), {@link JobClient} for enqueueing and
 * inspection, {@link JobEvents}, and the {@link JobWorker} hosted service. Bad job definitions, cron expressions and
 * option keys fail here, before the host is built.
 *
 * @example
 * ```ts
 * addJobs(builder, { jobs: [SendEmail], worker: { queues: { default: { concurrency: 20 } } } });
 * const jobs = host.services.get(JobClient);
 * await jobs.enqueue(SendEmail, { to: 'a@example.com', subject: 'Hi' });
 * ```
 */
export function addJobs(builder: HostBuilder, setup: JobsSetup): void {
  assertKnownKeys('addJobs() setup', setup, KEYS);
  assertKnownConfigurationKeys(builder.configuration);
  const registry = new JobRegistry(setup.jobs, setup.schedules ?? []);
  const services = builder.services;
  const store = setup.store;
  services.addSingleton(JobStore, {
    factory: (provider) => {
      const configuration = provider.get(ConfigurationKey);
      let resolved: JobStore;
      if (store === undefined) {
        const path = configuration.get('Jobs:Sqlite:Path');
        resolved = sqliteStore({ path: typeof path === 'string' ? path : DEFAULT_SQLITE_PATH });
      } else {
        resolved = typeof store === 'function' ? store(configuration) : store;
      }
      // The store's own warnings (slow queries, lost connections) go through the host's logger.
      resolved.attachLogger?.(provider.get(LoggerFactory));
      return resolved;
    },
    deps: [ConfigurationKey, LoggerFactory],
  });
  services.addSingleton(JobRegistry, { value: registry });
  services.addSingleton(JobEvents, {
    factory: (provider) => {
      const log = provider.get(LoggerFactory).create('Hostwork.Jobs.Events');
      return new JobEvents((error, event) =>
        log.error({ err: error, event }, `A '${event}' event listener threw`),
      );
    },
    deps: [LoggerFactory],
  });
  services.addSingleton(LocalDispatch, { value: new LocalDispatch() });
  const options = setup.worker === false ? undefined : resolveWorkerOptions(setup.worker ?? {});
  services.addSingleton(QueueConsumers, {
    factory: (p) =>
      new QueueConsumers(
        p.get(JobStore),
        p.get(LoggerFactory).create('Hostwork.Jobs.Client'),
        Object.keys(options?.queues ?? {}),
      ),
    deps: [JobStore, LoggerFactory],
  });
  services.addSingleton(JobClient, {
    factory: (p) =>
      new JobClient(
        p.get(JobStore),
        p.get(JobEvents),
        p.get(JobRegistry),
        p.get(LocalDispatch),
        p.get(QueueConsumers),
      ),
    deps: [JobStore, JobEvents, JobRegistry, LocalDispatch, QueueConsumers],
  });
  if (options !== undefined) {
    assertHandlersFor(registry, options);
    services.addSingleton(WorkerOptions, { value: options });
    services.addHostedService(JobWorker);
  }
  addJobHealthChecks(healthChecksOf(builder), options !== undefined, setup.health);
}
