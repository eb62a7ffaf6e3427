/**
 * The dashboard on a large store: seeds N jobs (default 1,000,000) into a fresh SQLite file and a fresh PostgreSQL
 * schema in one statement each (a recursive CTE / generate_series), then times the dashboard's API through its Fetch
 * handler (JSON serialisation included, no network): the counts (overview), job list pages with and without filters,
 * payload-field filters, a job, the throughput chart. Each figure is the median of 15 requests after 3 warm-ups.
 * A filter no index serves (name, time, queue, state; payload without an index) is read in windows within a time
 * budget (docs/dashboard.md), and each such line says how far the page searched; the store's own list over the whole
 * table is timed as well (`store.list, payload ...`). A benchmark, not a test: it
 * asserts nothing about time.
 *
 *   node --conditions=hostwork-source bench/dashboard.ts [--jobs 1000000] [--store sqlite|postgres|both]
 *     [--payload-index]
 *
 * PostgreSQL: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test); the schema is dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { createDashboard } from '@hostwork/dashboard';
import { postgresStore } from '@hostwork/postgres';
import { type JobStore, sqliteStore } from 'hostwork';
import pg from 'pg';
import { payloadFieldText } from '../packages/hostwork/src/stores/sqlite/statements.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000000' },
    store: { type: 'string', default: 'both' },
    // Then index the payloads (PostgreSQL: the payload index; SQLite: the field customer.id) and time again.
    'payload-index': { type: 'boolean', default: false },
  },
});
const JOBS = Number(values.jobs);
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NOW = Date.now();

/**
 * The mix, by i (1..N): 5 queues; 80% completed, 10% pending, 1% running, 3% dead, the rest cancelled; created over
 * the last 7 days, in id order; payloads {"customer":{"id":i % 50000},"tier":"gold" or "basic" by i % 2,"n":i};
 * finished jobs finish a second after
 * creation, the newest within the last hour.
 */
const STATE_SQL = (i: string) =>
  `CASE WHEN ${i} % 100 < 80 THEN 'completed' WHEN ${i} % 100 < 90 THEN 'pending' WHEN ${i} % 100 < 91 THEN 'running' WHEN ${i} % 100 < 94 THEN 'dead' ELSE 'cancelled' END`;
const QUEUE_SQL = (i: string) =>
  `CASE ${i} % 5 WHEN 0 THEN 'default' WHEN 1 THEN 'emails' WHEN 2 THEN 'reports' WHEN 3 THEN 'billing' ELSE 'webhooks' END`;

const ROUTES: readonly [label: string, path: string][] = [
  ['counts (overview)', '/api/overview'],
  ['list, first page (50)', '/api/jobs'],
  ['list, page at the middle', `/api/jobs?before=${Math.floor(JOBS / 2)}`],
  ['list, state=dead', '/api/jobs?state=dead'],
  ['list, queue=reports&state=pending', '/api/jobs?queue=reports&state=pending'],
  ['list, name=report.build', '/api/jobs?name=report.build'],
  ['list, name=missing (no match)', '/api/jobs?name=missing'],
  ['list, queue=reports&name=missing (no match)', '/api/jobs?queue=reports&name=missing'],
  ['list, queue=missing (no match)', '/api/jobs?queue=missing'],
  [
    'list, created in a 1h window 3 days ago',
    `/api/jobs?from=${NOW - 3 * 86_400_000}&to=${NOW - 3 * 86_400_000 + 3_600_000}`,
  ],
  ['list, payload customer.id=42 (20 match)', '/api/jobs?payload=customer.id%3D42'],
  ['list, payload customer.id=42 & state=dead', '/api/jobs?payload=customer.id%3D42&state=dead'],
  ['list, payload tier=gold (half match)', '/api/jobs?payload=tier%3Dgold'],
  [`list, payload n=${JOBS - 100} (1 match, recent)`, `/api/jobs?payload=n%3D${JOBS - 100}`],
  ['one job', `/api/jobs/${Math.floor(JOBS / 3)}`],
  ['throughput (last hour)', '/api/throughput'],
];

async function time(store: JobStore): Promise<void> {
  const handler = createDashboard({ store, auth: { kind: 'none', loopbackOnly: true } });
  for (const [label, path] of ROUTES) {
    let note = '';
    await report(label, async () => {
      const response = await handler(new Request(`http://bench${path}`), { remoteAddress: '127.0.0.1' });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`${path}: ${response.status} ${body}`);
      const answer = JSON.parse(body) as {
        jobs?: unknown[];
        search?: { indexed: boolean; searchedTo?: string | null };
      };
      if (answer.search !== undefined) {
        const { indexed, searchedTo } = answer.search;
        const found = answer.jobs?.length ?? 0;
        note = `${found} jobs, ${indexed ? 'indexed' : searchedTo ? `searched down to #${searchedTo}` : found === 50 ? 'a full page' : 'searched every job'}`;
      }
    });
    if (note) console.log(`    ${note}`);
  }
  // The store's own answer over the whole table, as a bulk action over the filter reads it (no window, no budget).
  for (const [label, equals] of [['store.list, payload customer.id=42 (whole table)', '42']] as const) {
    await report(label, () => store.list({ limit: 51, payload: { path: ['customer', 'id'], equals } }));
  }
}

/** Times `once` 3 + 15 times and prints the median and p90 of the last 15. */
async function report(label: string, once: () => Promise<unknown>): Promise<void> {
  const timed = async () => {
    const started = performance.now();
    await once();
    return performance.now() - started;
  };
  for (let i = 0; i < 3; i++) await timed();
  const runs: number[] = [];
  for (let i = 0; i < 15; i++) runs.push(await timed());
  runs.sort((a, b) => a - b);
  console.log(
    `  ${label.padEnd(48)} median ${runs[7]!.toFixed(1).padStart(7)} ms   p90 ${runs[13]!.toFixed(1).padStart(7)} ms`,
  );
}

async function sqlite(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hostwork-bench-dashboard-'));
  try {
    const path = join(dir, 'jobs.db');
    const store = sqliteStore({ path });
    await store.migrate();
    await store.close();
    const started = performance.now();
    const db = new DatabaseSync(path);
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${JOBS})
      INSERT INTO hw_jobs (id, name, queue, payload, state, priority, run_at, attempt, max_attempts, timeout_ms,
                           errors, created_at, finished_at, lease_owner, lease_expires_at)
      SELECT i, CASE WHEN i % 7 = 0 THEN 'report.build' ELSE 'email.send' END, ${QUEUE_SQL('i')},
             '{"customer":{"id":' || (i % 50000) || '},"tier":"' || CASE WHEN i % 2 = 0 THEN 'gold' ELSE 'basic' END || '","n":' || i || '}', ${STATE_SQL('i')}, 0,
             ${NOW} - (${JOBS} - i) * ${Math.floor((7 * 86_400_000) / JOBS)}, 1, 3, 0,
             CASE WHEN i % 100 BETWEEN 91 AND 93 THEN '[{"attempt":1,"at":0,"message":"boom","kind":"error"}]' ELSE '[]' END,
             ${NOW} - (${JOBS} - i) * ${Math.floor((7 * 86_400_000) / JOBS)},
             CASE WHEN i % 100 < 80 OR i % 100 BETWEEN 91 AND 99 THEN ${NOW} - (${JOBS} - i) * ${Math.floor((7 * 86_400_000) / JOBS)} + 1000 END,
             CASE WHEN i % 100 = 90 THEN 'bench' END, CASE WHEN i % 100 = 90 THEN ${NOW} + 3600000 END
      FROM n;
      ANALYZE;`);
    db.close();
    console.log(`sqlite: seeded ${JOBS} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const reopened = sqliteStore({ path });
    await reopened.migrate();
    await time(reopened);
    await reopened.close();
    if (values['payload-index']) {
      const indexing = new DatabaseSync(path);
      indexing.exec(
        `CREATE INDEX hw_jobs_customer_id ON hw_jobs (${payloadFieldText('$."customer"."id"')}); ANALYZE;`,
      );
      indexing.close();
      console.log('sqlite, with an index on the payload field customer.id:');
      const indexed = sqliteStore({ path });
      await time(indexed);
      await indexed.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgres(): Promise<void> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    const store = postgresStore({ connectionString: DATABASE_URL, schema });
    await store.migrate();
    const started = performance.now();
    const step = Math.floor((7 * 86_400_000) / JOBS);
    await admin.query(`
      INSERT INTO ${schema}.jobs (id, name, queue, payload, state, priority, run_at, attempt, max_attempts, timeout_ms,
                                  errors, created_at, finished_at, lease_owner, lease_expires_at)
      SELECT i, CASE WHEN i % 7 = 0 THEN 'report.build' ELSE 'email.send' END, ${QUEUE_SQL('i')},
             '{"customer":{"id":' || (i % 50000) || '},"tier":"' || CASE WHEN i % 2 = 0 THEN 'gold' ELSE 'basic' END || '","n":' || i || '}', ${STATE_SQL('i')}, 0,
             ${NOW} - (${JOBS} - i) * ${step}, 1, 3, 0,
             CASE WHEN i % 100 BETWEEN 91 AND 93 THEN '[{"attempt":1,"at":0,"message":"boom","kind":"error"}]'::jsonb ELSE '[]'::jsonb END,
             ${NOW} - (${JOBS} - i) * ${step},
             CASE WHEN i % 100 < 80 OR i % 100 BETWEEN 91 AND 99 THEN ${NOW} - (${JOBS} - i) * ${step} + 1000 END,
             CASE WHEN i % 100 = 90 THEN 'bench' END, CASE WHEN i % 100 = 90 THEN ${NOW} + 3600000 END
      FROM generate_series(1, ${JOBS}) AS i`);
    await admin
      .query(`SELECT setval(pg_get_serial_sequence('${schema}.jobs', 'id'), ${JOBS})`)
      .catch(() => {});
    await admin.query(`VACUUM ANALYZE ${schema}.jobs`);
    console.log(`postgres: seeded ${JOBS} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await time(store);
    if (values['payload-index']) {
      const indexing = performance.now();
      await store.createPayloadIndex();
      await admin.query(`ANALYZE ${schema}.jobs`);
      const size = await admin.query<{ size: string }>(
        `SELECT pg_size_pretty(pg_relation_size('${schema}.jobs_payload')) AS size`,
      );
      console.log(
        `postgres, with the payload index (built in ${((performance.now() - indexing) / 1000).toFixed(1)} s, ${size.rows[0]!.size}):`,
      );
      await time(store);
    }
    await store.close();
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

if (values.store === 'sqlite' || values.store === 'both') await sqlite();
if (values.store === 'postgres' || values.store === 'both') await postgres();
