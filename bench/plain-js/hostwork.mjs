// node hostwork.mjs seed|drain <schema> <concurrency>: one side of bench/plain-js/run.sh (Hostwork's defaults).
import { postgresStore } from '@hostwork/postgres';
import { addJobs, createHostBuilder, defineJob, JobClient, JobEvents } from 'hostwork';
import { z } from 'zod';

const [mode, schema, concurrency] = process.argv.slice(2);
const n = 20_000;
const Noop = defineJob({ name: 'noop', schema: z.object({ i: z.number() }), handle() {} });
const builder = createHostBuilder({
  env: {},
  args: [],
  contentRoot: process.cwd(),
  environmentName: 'Production',
  logging: { level: 'warn' },
});
const worker = mode === 'seed' ? false : { queues: { default: { concurrency: Number(concurrency) } } };
addJobs(builder, {
  jobs: [Noop],
  store: postgresStore({ connectionString: process.env.DATABASE_URL, schema }),
  worker,
});
const host = builder.build();
if (mode === 'seed') {
  await host.start();
  const client = host.services.get(JobClient);
  for (let i = 0; i < n; i += 1000)
    await client.enqueueMany(
      Noop,
      Array.from({ length: 1000 }, (_, k) => ({ payload: { i: i + k } })),
    );
  await host.stop();
} else {
  let completed = 0;
  const all = Promise.withResolvers();
  host.services.get(JobEvents).on('completed', () => {
    if (++completed === n) all.resolve();
  });
  const t0 = performance.now();
  await host.start();
  await all.promise;
  const rate = Math.round((n / (performance.now() - t0)) * 1000);
  const peakMb = Math.round(process.resourceUsage().maxRSS / 102.4) / 10;
  await host.stop();
  console.log(JSON.stringify({ system: 'hostwork', concurrency: Number(concurrency), drain: rate, peakMb }));
}
