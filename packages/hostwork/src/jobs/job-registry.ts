import { ErrorCodes, HostworkError } from '../errors.ts';
import type { JobContract } from './job-contract.ts';
import { contractOf, hasHandler } from './job-contract.ts';
import type { JobDefinition } from './job-definition.ts';
import type { ResolvedSchedule, ScheduleDefinition } from './schedule.ts';
import { resolveSchedule } from './schedule.ts';

/** What the registry knows of one job name: its contract, and its handler when this process can run it. */
interface Entry {
  /** The contract every registered object of this name implements (a definition made from options is its own). */
  readonly contract: JobContract;
  /** The definition with the handler, if one is registered. */
  definition: JobDefinition | undefined;
  /** The objects that may be enqueued under this name: the contract and the definition implementing it. */
  readonly accepted: Set<object>;
}

/** The job contracts, definitions and schedules an application knows, by name. */
export class JobRegistry {
  readonly #jobs = new Map<string, Entry>();
  readonly #schedules = new Map<string, ResolvedSchedule>();

  // biome-ignore lint/suspicious/noExplicitAny: contracts of any payload type share one registry.
  constructor(jobs: readonly JobContract<any, any>[] = [], schedules: readonly ScheduleDefinition[] = []) {
    for (const job of jobs) this.addJob(job);
    for (const schedule of schedules) this.addSchedule(schedule);
  }

  /**
   * Adds a contract or a definition. A contract and the definition implementing it share one name; two unrelated
   * objects with one name, or two handlers for one contract, are refused (the name routes stored jobs).
   */
  // biome-ignore lint/suspicious/noExplicitAny: contracts of any payload type share one registry.
  addJob(job: JobContract<any, any>): void {
    const contract = contractOf(job);
    const definition = hasHandler(job) ? (job as JobDefinition) : undefined;
    const existing = this.#jobs.get(job.name);
    if (!existing) {
      this.#jobs.set(job.name, { contract, definition, accepted: new Set([contract, job]) });
      return;
    }
    if (existing.contract !== contract) {
      throw new HostworkError(
        ErrorCodes.JOB_NOT_REGISTERED,
        `Two different job definitions are named '${job.name}'. Job names route stored jobs to handlers: make them unique, and implement a contract with defineJob(contract, handle) rather than redefining it.`,
      );
    }
    if (definition && existing.definition && existing.definition !== definition) {
      throw new HostworkError(
        ErrorCodes.JOB_NOT_REGISTERED,
        `Two handlers implement the contract of job '${job.name}'. Register one defineJob(contract, handle) per contract.`,
      );
    }
    existing.definition ??= definition;
    existing.accepted.add(job);
  }

  /** Adds a schedule, checking its cron expression and that its job is registered. */
  addSchedule(schedule: ScheduleDefinition): void {
    const resolved = resolveSchedule(schedule);
    if (this.#schedules.has(schedule.name)) {
      throw new HostworkError(ErrorCodes.SCHEDULE_INVALID, `Two schedules are named '${schedule.name}'.`);
    }
    this.addJob(schedule.job);
    this.#schedules.set(schedule.name, resolved);
  }

  /** The definition that runs stored jobs of this name, or undefined when this process has only its contract. */
  job(name: string): JobDefinition | undefined {
    return this.#jobs.get(name)?.definition;
  }

  /** What is registered under a name: the definition when there is one, else the contract (for its defaults). */
  contract(name: string): JobContract | undefined {
    const entry = this.#jobs.get(name);
    return entry?.definition ?? entry?.contract;
  }

  /** Whether `job` is the registered contract or definition of its name (not another object of the same name). */
  accepts(job: JobContract): 'yes' | 'other' | 'unknown' {
    const entry = this.#jobs.get(job.name);
    if (!entry) return 'unknown';
    return entry.accepted.has(job) ? 'yes' : 'other';
  }

  /** The registered names and contracts, with whether a handler for each is registered. */
  contracts(): { readonly contract: JobContract; readonly hasHandler: boolean }[] {
    return [...this.#jobs.values()].map((e) => ({
      contract: e.contract,
      hasHandler: e.definition !== undefined,
    }));
  }

  /** All job names, for messages. */
  jobNames(): string[] {
    return [...this.#jobs.keys()];
  }

  /** A schedule by name. */
  schedule(name: string): ResolvedSchedule | undefined {
    return this.#schedules.get(name);
  }

  /** All schedules. */
  schedules(): ResolvedSchedule[] {
    return [...this.#schedules.values()];
  }
}
