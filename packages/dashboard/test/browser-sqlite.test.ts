import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JobStore, sqliteStore } from 'hostwork';
import { describeWhenAvailable } from '../../hostwork/test/support/services.ts';
import { browserProblem } from './support/browser.ts';
import { browserCases } from './support/browser-cases.ts';

describeWhenAvailable(
  'the dashboard in Chromium, on SQLite',
  browserProblem(),
  () => {
    const dirs = new Map<JobStore, string>();
    browserCases('sqlite', {
      async create() {
        const dir = mkdtempSync(join(tmpdir(), 'hostwork-dashboard-'));
        const store = sqliteStore({ path: join(dir, 'jobs.db') });
        await store.migrate();
        dirs.set(store, dir);
        return store;
      },
      async destroy(store) {
        await store.close();
        rmSync(dirs.get(store)!, { recursive: true, force: true });
      },
    });
  },
  "install Debian's chromium (apt-get install chromium), as .ci/run does",
);
