/**
 * The entry point: `npm start` (Development), or `node src/main.ts` as the container does (Production). Stop it with
 * Ctrl+C or SIGTERM: the server stops accepting, running jobs finish within the shutdown budget, then it exits 0.
 */
import { createHostBuilder } from 'hostwork';
import { configure } from './app.ts';

const builder = createHostBuilder();
configure(builder); // jobs in SQLite at Jobs:Sqlite:Path (hostwork.json)
await builder.build().run();
