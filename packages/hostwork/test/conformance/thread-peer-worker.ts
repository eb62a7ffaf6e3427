/** The worker side of {@link threadPeer}: builds the store and serves calls on it. */
import { parentPort, workerData } from 'node:worker_threads';
import type { JobStore } from '../../src/jobs/job-store.ts';

export interface PeerWorkerData {
  readonly moduleUrl: string;
  readonly exportName: string;
  readonly options: unknown;
}

export type ToWorker =
  | { readonly type: 'call'; readonly call: number; readonly method: string; readonly args: unknown[] }
  | { readonly type: 'subscribe' }
  | { readonly type: 'unsubscribe' };

export type FromWorker =
  | { readonly type: 'ready'; readonly kind: string }
  | { readonly type: 'result'; readonly call: number; readonly value: unknown }
  | {
      readonly type: 'error';
      readonly call: number;
      readonly message: string;
      readonly stack: string | undefined;
      readonly code: unknown;
    }
  | { readonly type: 'wake' };

if (parentPort !== null) {
  const port = parentPort;
  const data = workerData as PeerWorkerData;
  const module = (await import(data.moduleUrl)) as Record<string, (options: unknown) => JobStore>;
  const build = module[data.exportName];
  if (typeof build !== 'function') throw new Error(`${data.moduleUrl} has no export ${data.exportName}`);
  const store = build(data.options);
  const post = (message: FromWorker) => port.postMessage(message);
  let unsubscribe: (() => void) | undefined;

  port.on('message', async (message: ToWorker) => {
    if (message.type === 'subscribe') {
      unsubscribe ??= store.onWake(() => post({ type: 'wake' }));
    } else if (message.type === 'unsubscribe') {
      unsubscribe?.();
      unsubscribe = undefined;
    } else {
      try {
        const method = (store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[
          message.method
        ];
        if (typeof method !== 'function') throw new Error(`no store method ${message.method}`);
        const value = await method.apply(store, message.args);
        post({ type: 'result', call: message.call, value });
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        post({
          type: 'error',
          call: message.call,
          message: e.message,
          stack: e.stack,
          code: (e as { code?: unknown }).code,
        });
      }
    }
  });
  post({ type: 'ready', kind: store.kind });
}
