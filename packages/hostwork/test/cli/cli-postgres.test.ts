/**
 * The `hostwork` command on the PostgreSQL store: each test in a fresh schema, dropped afterwards. Skipped with the
 * reason when the server is unreachable, unless HOSTWORK_REQUIRE_SERVICES=1 (then it fails), as every PostgreSQL test.
 */
import { after } from 'node:test';
import { postgresStore } from '@hostwork/postgres';
import {
  DATABASE_URL,
  describeWithDatabase,
  dropSchema,
  freshSchemaName,
} from '../../../postgres/test/support/database.ts';
import { cliScenarios } from './scenarios.ts';
import type { CliTarget } from './support.ts';

const schemas: string[] = [];

after(async () => {
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

function postgresTarget(): CliTarget {
  const schema = freshSchemaName();
  schemas.push(schema);
  return {
    kind: 'postgres',
    args: ['--database-url', DATABASE_URL, '--schema', schema],
    openStore: () =>
      postgresStore({ connectionString: DATABASE_URL, schema, poolSize: 4, onWarning: () => {} }),
  };
}

await describeWithDatabase('the hostwork command on PostgreSQL', () => {
  cliScenarios(async () => postgresTarget());
});
