/**
 * Hosted building blocks: periodic work on an interval, and an in-memory background task queue with its consumer.
 * @module
 */
export {
  addPeriodicService,
  type PeriodicOptions,
  type PeriodicRun,
  type PeriodicRunContext,
  PeriodicService,
} from './periodic-service.ts';
export {
  BackgroundTaskQueue,
  type BackgroundTaskQueueOptions,
  type EnqueueOptions as TaskQueueEnqueueOptions,
  type TaskQueueFullMode,
  taskQueueDefaults,
  type WorkItem,
  type WorkItemContext,
} from './task-queue.ts';
export {
  addTaskQueue,
  type TaskQueueOptions,
  TaskQueueService,
  type TaskQueueServiceOptions,
} from './task-queue-service.ts';
