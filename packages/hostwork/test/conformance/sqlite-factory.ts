/** Conformance factories for the SQLite store: a temp file per store; peers open the same file. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobStore } from '../../src/jobs/job-store.ts';
import { sqliteStore } from '../../src/stores/sqlite/sqlite-store.ts';
import type { StoreFactory } from './store-conformance.ts';
import { threadPeer } from './thread-peer.ts';

/**
 * @param peersInThreads open each peer in a worker thread (truly concurrent, like another process) instead of
 *   as another instance in this thread.
 */
export function sqliteFactory({ peersInThreads }: { readonly peersInThreads: boolean }): StoreFactory {
  /** Each store's database file, and the temp directory of stores made by `create` (peers own none). */
  const paths = new WeakMap<JobStore, string>();
  const dirs = new WeakMap<JobStore, string>();
  return {
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'hostwork-conformance-'));
      const path = join(dir, 'jobs.db');
      const store = sqliteStore({ path });
      paths.set(store, path);
      dirs.set(store, dir);
      return store;
    },
    async createPeer(of) {
      const path = paths.get(of);
      if (path === undefined) throw new Error('createPeer: not a store made by this factory');
      const store = peersInThreads
        ? await threadPeer({
            moduleUrl: new URL('../../src/stores/sqlite/sqlite-store.ts', import.meta.url).href,
            exportName: 'sqliteStore',
            options: { path },
          })
        : sqliteStore({ path });
      paths.set(store, path);
      return store;
    },
    async destroy(store) {
      await store.close();
      const dir = dirs.get(store);
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
