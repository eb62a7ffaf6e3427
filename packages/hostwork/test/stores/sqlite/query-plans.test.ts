import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import * as sql from '../../../src/stores/sqlite/statements.ts';
import { useTemp } from './helpers.ts';

/**
 * The hot statements must use their index and never sort: a plan that scans the table or builds a temporary
 * B-tree would pass every functional test and still ruin throughput on a large table.
 */
const EXPECTED: Record<string, { uses: string[]; sorts?: true }> = {
  CLAIM_JOBS: {
    uses: ['USING COVERING INDEX hw_jobs_claim (queue=?)', 'USING INTEGER PRIMARY KEY (rowid=?)'],
  },
  NEXT_RUN_AT: { uses: ['USING COVERING INDEX hw_jobs_claim (queue=?)'] },
  COMPLETE_JOBS: { uses: ['USING INTEGER PRIMARY KEY (rowid=?)'] },
  CANCEL_RUNNING_JOBS: { uses: ['USING INTEGER PRIMARY KEY (rowid=?)'] },
  RETRY_JOBS: { uses: ['USING INTEGER PRIMARY KEY (rowid=?)'] },
  KILL_JOBS: { uses: ['USING INTEGER PRIMARY KEY (rowid=?)'] },
  RELEASE_JOBS: { uses: ['USING INTEGER PRIMARY KEY (rowid=?)'] },
  RENEW_LEASES: { uses: ['USING INTEGER PRIMARY KEY (rowid=?)'] },
  RECOVER_EXPIRED_LEASES: { uses: ['USING INDEX hw_jobs_lease (lease_expires_at<?)'] },
  SELECT_LIVE_JOB_BY_UNIQUE_KEY: { uses: ['USING INDEX hw_jobs_unique_key (unique_key=?)'] },
  PRUNE_COMPLETED_JOBS: {
    uses: ['USING COVERING INDEX hw_jobs_prune', 'USING INTEGER PRIMARY KEY (rowid=?)'],
  },
  LIST_JOBS: { uses: ['USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)'] },
  COUNT_JOBS: { uses: ['USING COVERING INDEX hw_jobs_claim', 'USING COVERING INDEX hw_jobs_counts'] },
  // Not a hot path (the dashboard's chart): it groups the last hour's finished jobs by minute, but reads them on
  // indexes only.
  THROUGHPUT: {
    uses: [
      'USING COVERING INDEX hw_jobs_prune (finished_at>?)',
      'USING COVERING INDEX hw_jobs_counts (state=?)',
    ],
    sorts: true,
  },
};

describe('sqlite store: query plans', () => {
  const temp = useTemp();

  for (const [name, { uses, sorts }] of Object.entries(EXPECTED)) {
    it(`${name} uses its index and no sort`, async () => {
      const path = join(temp.dir(), 'jobs.db');
      await temp.store({ path }).migrate();
      const db = new DatabaseSync(path);
      try {
        const statement = (sql as unknown as Record<string, string>)[name]!;
        const plan = db
          .prepare(`EXPLAIN QUERY PLAN ${statement}`)
          .all()
          .map((row) => String(row.detail));
        for (const use of uses) {
          assert.ok(
            plan.some((step) => step.includes(use)),
            `expected "${use}" in:\n${plan.join('\n')}`,
          );
        }
        if (!sorts)
          assert.ok(!plan.some((step) => step.includes('TEMP B-TREE')), `a sort in:\n${plan.join('\n')}`);
        assert.ok(!plan.some((step) => /^SCAN hw_jobs$/.test(step)), `a table scan in:\n${plan.join('\n')}`);
      } finally {
        db.close();
      }
    });
  }

  it('a payload filter can use an index on its exact expression (the path is a literal of the statement)', async () => {
    const path = join(temp.dir(), 'jobs.db');
    await temp.store({ path }).migrate();
    const db = new DatabaseSync(path);
    try {
      const jsonPath = '$."customer"."id"';
      db.exec(`CREATE INDEX hw_jobs_customer_id ON hw_jobs (${sql.payloadFieldText(jsonPath)})`);
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN ${sql.withPayloadFilter(sql.LIST_JOBS, jsonPath)}`)
        .all()
        .map((row) => String(row.detail));
      assert.ok(
        plan.some((step) => step.includes('USING INDEX hw_jobs_customer_id')),
        `expected the expression index in:\n${plan.join('\n')}`,
      );
    } finally {
      db.close();
    }
  });
});
