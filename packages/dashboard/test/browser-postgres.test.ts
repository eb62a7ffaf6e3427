import type { JobStore } from 'hostwork';
import { describeWhenAvailable } from '../../hostwork/test/support/services.ts';
import { databaseProblem, dropSchema, freshSchemaName } from '../../postgres/test/support/database.ts';
import { testStore } from '../../postgres/test/support/factory.ts';
import { browserProblem } from './support/browser.ts';
import { browserCases } from './support/browser-cases.ts';

const problem = browserProblem() ?? (await databaseProblem());

describeWhenAvailable(
  'the dashboard in Chromium, on PostgreSQL',
  problem,
  () => {
    const schemas = new Map<JobStore, string>();
    browserCases('postgres', {
      async create() {
        const schema = freshSchemaName();
        const store = testStore(schema);
        await store.migrate();
        schemas.set(store, schema);
        return store;
      },
      async destroy(store) {
        await store.close();
        await dropSchema(schemas.get(store)!);
      },
    });
  },
  "install Debian's chromium and run PostgreSQL (set DATABASE_URL), as .ci/run does",
);
