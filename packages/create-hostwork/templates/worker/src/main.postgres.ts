/**
 * The entry point: `npm start` (Development), or `node src/main.ts` as the container does (Production). Stop it with
 * Ctrl+C or SIGTERM: the worker's signal aborts, running jobs finish within the shutdown budget, then it exits 0.
 */
import { postgresStore } from '@hostwork/postgres';
import { createHostBuilder } from 'hostwork';
import { configure } from './app.ts';

const builder = createHostBuilder();
// Jobs in PostgreSQL: Jobs:Postgres:ConnectionString (hostwork.json, JOBS__POSTGRES__CONNECTIONSTRING), else DATABASE_URL.
configure(builder, (configuration) => {
  const url = configuration.get('Jobs:Postgres:ConnectionString');
  const schema = configuration.get('Jobs:Postgres:Schema');
  return postgresStore({
    connectionString: typeof url === 'string' && url !== '' ? url : process.env.DATABASE_URL,
    schema: typeof schema === 'string' ? schema : 'hostwork',
  });
});
await builder.build().run();
