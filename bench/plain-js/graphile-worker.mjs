// node graphile-worker.mjs seed|drain <schema> <concurrency> <localQueueSize>: one side of bench/plain-js/run.sh,
// graphile-worker configured as in the harness (bench/systems/graphile-worker.ts).
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';

process.env.NO_LOG_SUCCESS = '1';
const [mode, schema, concurrencyArg, sizeArg] = process.argv.slice(2);
const n = 20_000;
const connectionString = process.env.DATABASE_URL;
const concurrency = Number(concurrencyArg);
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`graphile-worker ${level}: ${message}`);
});
if (mode === 'seed') {
  const utils = await makeWorkerUtils({ connectionString, schema, logger });
  await utils.migrate();
  for (let i = 0; i < n; i += 1000)
    await utils.addJobs(
      Array.from({ length: 1000 }, (_, k) => ({ identifier: 'noop', payload: { i: i + k } })),
    );
  await utils.release();
} else {
  const watcher = new pg.Client({ connectionString });
  await watcher.connect();
  let ran = 0;
  const handled = Promise.withResolvers();
  const t0 = performance.now();
  const runner = await run({
    connectionString,
    schema,
    concurrency,
    maxPoolSize: Math.max(10, concurrency + 2),
    noHandleSignals: true,
    logger,
    preset: {
      worker: { localQueue: { size: Number(sizeArg) }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    },
    taskList: {
      noop: async () => {
        if (++ran === n) handled.resolve();
      },
    },
  });
  await handled.promise;
  // Completions are batched: the drain ends when the job table is empty.
  const empty = `SELECT NOT EXISTS (SELECT FROM "${schema}"._private_jobs) AS empty`;
  while (!(await watcher.query(empty)).rows[0].empty) await new Promise((resolve) => setTimeout(resolve, 1));
  const rate = Math.round((n / (performance.now() - t0)) * 1000);
  const peakMb = Math.round(process.resourceUsage().maxRSS / 102.4) / 10;
  await runner.stop();
  await watcher.end();
  console.log(
    JSON.stringify({
      system: 'graphile-worker',
      localQueue: Number(sizeArg),
      concurrency,
      drain: rate,
      peakMb,
    }),
  );
}
