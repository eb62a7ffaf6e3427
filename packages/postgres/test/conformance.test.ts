/** The store conformance suite, unchanged, on PostgreSQL: every test on a fresh schema; peers have their own pool. */
import { describeStoreConformance } from '../../hostwork/test/conformance/store-conformance.ts';
import { describeWithDatabase } from './support/database.ts';
import { postgresFactory } from './support/factory.ts';

await describeWithDatabase('postgres store conformance (PostgreSQL)', () => {
  describeStoreConformance('postgres', postgresFactory());
});
