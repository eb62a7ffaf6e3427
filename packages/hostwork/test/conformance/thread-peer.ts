/**
 * A JobStore whose real store lives in a worker thread, so "another process" is truly concurrent.
 *
 * A store on a synchronous driver (node:sqlite) runs each call to completion on the calling thread, so peers made
 * in one thread never overlap and races between them cannot happen. A peer in a worker thread has its own
 * connection and runs in parallel with the main thread — like a second process on the same database — which gives
 * the exclusivity, unique-key, schedule-tick and concurrent-migrate cases their teeth.
 */
import { Worker } from 'node:worker_threads';
import type {
  InsertResult,
  JobCount,
  JobFilter,
  JobId,
  JobInfo,
  NewJob,
  QueueBacklog,
  ScheduleRecord,
  Settlement,
  ThroughputBucket,
  WorkerRecord,
} from '../../src/jobs/job-record.ts';
import type {
  CancelOutcome,
  ClaimRequest,
  ClaimResult,
  JobStore,
  RenewResult,
  RetentionPolicy,
  ScheduleTick,
} from '../../src/jobs/job-store.ts';
import type { ClaimedOutboxMessage, OutboxMessage } from '../../src/messaging/outbox-store.ts';
import type { FromWorker, PeerWorkerData, ToWorker } from './thread-peer-worker.ts';

/** Which store to build in the worker: `(await import(moduleUrl))[exportName](options)`. */
export interface ThreadPeerSpec {
  readonly moduleUrl: string;
  readonly exportName: string;
  readonly options: unknown;
}

/** Starts a worker holding a store built from `spec` and returns a proxy for it. */
export async function threadPeer(spec: ThreadPeerSpec): Promise<JobStore> {
  const workerData: PeerWorkerData = spec;
  const worker = new Worker(new URL('./thread-peer-worker.ts', import.meta.url), { workerData });
  const kind = await new Promise<string>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    worker.once('error', onError);
    worker.once('message', (message: FromWorker) => {
      worker.off('error', onError);
      if (message.type === 'ready') resolve(message.kind);
      else reject(new Error(`thread peer: unexpected first message ${message.type}`));
    });
  });
  return new ThreadPeerStore(worker, kind);
}

class ThreadPeerStore implements JobStore {
  readonly kind: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, PromiseWithResolvers<unknown>>();
  readonly #listeners = new Set<{ readonly listener: () => void }>();
  #nextCall = 0;
  #exited = false;
  #closing: Promise<void> | undefined;

  constructor(worker: Worker, kind: string) {
    this.kind = kind;
    this.#worker = worker;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'wake') {
        for (const s of [...this.#listeners]) s.listener();
      } else if (message.type === 'result' || message.type === 'error') {
        const call = this.#pending.get(message.call);
        this.#pending.delete(message.call);
        if (message.type === 'result') call?.resolve(message.value);
        else
          call?.reject(
            Object.assign(new Error(message.message), { stack: message.stack, code: message.code }),
          );
      }
    });
    const failAll = (error: Error) => {
      this.#exited = true;
      for (const call of this.#pending.values()) call.reject(error);
      this.#pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`thread peer exited with code ${code}`)));
  }

  #call<T>(method: string, ...args: unknown[]): Promise<T> {
    if (this.#exited) return Promise.reject(new Error('thread peer has exited'));
    const call = this.#nextCall++;
    const pending = Promise.withResolvers<unknown>();
    this.#pending.set(call, pending);
    this.#worker.postMessage({ type: 'call', call, method, args } satisfies ToWorker);
    return pending.promise as Promise<T>;
  }

  migrate(): Promise<void> {
    return this.#call('migrate');
  }
  insert(jobs: readonly NewJob[]): Promise<InsertResult[]> {
    return this.#call('insert', jobs);
  }
  claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.#call('claim', request);
  }
  settle(owner: string, settlements: readonly Settlement[], now: number): Promise<void> {
    return this.#call('settle', owner, settlements, now);
  }
  renew(owner: string, ids: readonly JobId[], leaseMs: number, now: number): Promise<RenewResult> {
    return this.#call('renew', owner, ids, leaseMs, now);
  }
  recoverExpired(now: number): Promise<number> {
    return this.#call('recoverExpired', now);
  }
  announceWorker(owner: string, queues: readonly string[], ttlMs: number, now: number): Promise<void> {
    return this.#call('announceWorker', owner, queues, ttlMs, now);
  }
  withdrawWorker(owner: string): Promise<void> {
    return this.#call('withdrawWorker', owner);
  }
  dueBacklog(now: number): Promise<QueueBacklog[]> {
    return this.#call('dueBacklog', now);
  }
  liveQueues(now: number): Promise<string[]> {
    return this.#call('liveQueues', now);
  }
  listWorkers(now: number): Promise<WorkerRecord[]> {
    return this.#call('listWorkers', now);
  }
  runNow(id: JobId, now: number): Promise<boolean> {
    return this.#call('runNow', id, now);
  }
  throughput(since: number, bucketMs: number): Promise<ThroughputBucket[]> {
    return this.#call('throughput', since, bucketMs);
  }
  // The outbox and inbox (a transaction `tx` cannot cross threads: peers append and record without one).
  appendOutbox(messages: readonly OutboxMessage[]): Promise<void> {
    return this.#call('appendOutbox', messages);
  }
  claimOutbox(limit: number, owner: string, leaseMs: number, now: number): Promise<ClaimedOutboxMessage[]> {
    return this.#call('claimOutbox', limit, owner, leaseMs, now);
  }
  markOutboxSent(seqs: readonly string[], now: number): Promise<void> {
    return this.#call('markOutboxSent', seqs, now);
  }
  retryOutbox(owner: string, seqs: readonly string[], nextAt: number, error: string): Promise<void> {
    return this.#call('retryOutbox', owner, seqs, nextAt, error);
  }
  releaseOutbox(owner: string, seqs: readonly string[]): Promise<void> {
    return this.#call('releaseOutbox', owner, seqs);
  }
  pruneOutbox(sentBefore: number, limit: number): Promise<number> {
    return this.#call('pruneOutbox', sentBefore, limit);
  }
  countOutbox(): Promise<{ readonly unsent: number; readonly sent: number }> {
    return this.#call('countOutbox');
  }
  inboxHas(consumer: string, messageId: string, now: number): Promise<boolean> {
    return this.#call('inboxHas', consumer, messageId, now);
  }
  recordInbox(consumer: string, messageId: string, now: number, expiresAt: number): Promise<boolean> {
    return this.#call('recordInbox', consumer, messageId, now, expiresAt);
  }
  pruneInbox(now: number, limit: number): Promise<number> {
    return this.#call('pruneInbox', now, limit);
  }
  progress(id: JobId, progress: string): Promise<void> {
    return this.#call('progress', id, progress);
  }
  cancel(id: JobId, now: number): Promise<CancelOutcome> {
    return this.#call('cancel', id, now);
  }
  retry(id: JobId, now: number): Promise<boolean> {
    return this.#call('retry', id, now);
  }
  get(id: JobId): Promise<JobInfo | undefined> {
    return this.#call('get', id);
  }
  list(
    filter: JobFilter & { readonly limit: number; readonly before?: JobId; readonly after?: JobId },
  ): Promise<JobInfo[]> {
    return this.#call('list', filter);
  }
  counts(): Promise<JobCount[]> {
    return this.#call('counts');
  }
  purge(filter: JobFilter & { readonly limit?: number }): Promise<number> {
    return this.#call('purge', filter);
  }
  prune(policy: RetentionPolicy): Promise<number> {
    return this.#call('prune', policy);
  }
  upsertSchedules(schedules: readonly Omit<ScheduleRecord, 'paused' | 'lastRunAt'>[]): Promise<void> {
    return this.#call('upsertSchedules', schedules);
  }
  listSchedules(): Promise<ScheduleRecord[]> {
    return this.#call('listSchedules');
  }
  setSchedulePaused(name: string, paused: boolean, nextRunAt?: number | null): Promise<boolean> {
    return nextRunAt === undefined
      ? this.#call('setSchedulePaused', name, paused)
      : this.#call('setSchedulePaused', name, paused, nextRunAt);
  }
  tickSchedule(tick: ScheduleTick, now: number): Promise<boolean> {
    return this.#call('tickSchedule', tick, now);
  }

  acquireLeadership(owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.#call('acquireLeadership', owner, ttlMs, now);
  }

  releaseLeadership(owner: string): Promise<void> {
    return this.#call('releaseLeadership', owner);
  }

  /** The worker forwards every wake-up of its store (see the worker); they go to the listeners here at the time. */
  onWake(listener: () => void): () => void {
    const subscription = { listener };
    this.#listeners.add(subscription);
    return () => {
      this.#listeners.delete(subscription);
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listeners.clear();
      try {
        if (!this.#exited) await this.#call('close');
      } finally {
        await this.#worker.terminate();
      }
    })();
    return this.#closing;
  }
}
