/** The worker side of {@link threadPeer}: builds the store and serves calls on it. */
import { parentPort, workerData } from 'node:worker_threads';
import type { JobStore } from '../../src/jobs/job-store.ts';

export interface PeerWorkerData {
  readonly moduleUrl: string;
  readonly exportName: string;
  readonly options: unknown;
}

export interface ToWorker {
  readonly type: 'call';
  readonly call: number;
  readonly method: string;
  readonly args: unknown[];
}

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
  const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const post = (message: FromWorker) => port.postMessage(message);
  let listening = false;

  port.on('message', async (message: ToWorker) => {
    try {
      const method = methods[message.method];
      if (typeof method !== 'function') throw new Error(`no store method ${message.method}`);
      const value = await method.apply(store, message.args);
      // Listen from the first successful call (the store is open by then) and forward every wake-up; the proxy
      // hands them to whatever listeners it has. Subscribing on demand would be asynchronous, and a write made
      // right after the proxy's onWake returned could beat the subscription: a wake-up lost by the proxy.
      if (!listening && message.method !== 'close') {
        listening = true;
        store.onWake(() => post({ type: 'wake' }));
      }
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
  });
  post({ type: 'ready', kind: store.kind });
}
