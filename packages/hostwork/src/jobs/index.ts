export { addJobs, DEFAULT_SQLITE_PATH, type JobsSetup } from './add-jobs.ts';
export { type Backoff, defaultBackoff, type StorableBackoff } from './backoff.ts';
export { type BulkItem, type EnqueueResult, JobClient, type ScheduleInfo } from './job-client.ts';
export {
  defineJobContract,
  type JobContract,
  type JobContractInput,
} from './job-contract.ts';
export {
  defineJob,
  type JobContext,
  type JobDefaults,
  type JobDefinition,
  type JobDefinitionInput,
  type JobHandler,
  jobDefaults,
  type Snooze,
} from './job-definition.ts';
export { type JobEventBase, type JobEventMap, type JobEventName, JobEvents } from './job-events.ts';
export { type JobHealthOptions, jobHealthDefaults } from './job-health-checks.ts';
export * from './job-record.ts';
export { JobRegistry } from './job-registry.ts';
export {
  type CancelOutcome,
  type ClaimRequest,
  type ClaimResult,
  type InsertOptions,
  JobStore,
  type RenewResult,
  type RetentionPolicy,
  type ScheduleTick,
} from './job-store.ts';
export type { WaitOptions } from './job-waiter.ts';
export { JobWorker, type WorkerHealth } from './job-worker.ts';
export {
  LocalDispatch,
  type LocalLease,
  type LocalReceiver,
  type LocalReservation,
} from './local-dispatch.ts';
export type { MigrationStatus } from './migration-status.ts';
export { checkJobFilter, parsePayloadFilter } from './payload-filter.ts';
export type { EnqueueOptions } from './prepare-job.ts';
export {
  QueueConsumers,
  type QueueConsumersTiming,
  queueConsumersDefaults,
} from './queue-consumers.ts';
export {
  defineSchedule,
  type MisfirePolicy,
  nextStoredTick,
  type ScheduleDefinition,
} from './schedule.ts';
export { StoreSignal, type StoreSignalOptions } from './store-signal.ts';
export { type QueueOptions, WorkerOptions, workerDefaults } from './worker-options.ts';
