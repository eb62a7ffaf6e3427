/**
 * @hostwork/postgres: the PostgreSQL job store for Hostwork. `FOR UPDATE SKIP LOCKED` claims, one round trip per
 * batch on every hot path, LISTEN/NOTIFY wake-ups, and enqueue or completion inside the application's transaction.
 *
 * @example
 * ```ts
 * import { addJobs } from 'hostwork';
 * import { postgresStore } from '@hostwork/postgres';
 *
 * addJobs(builder, { jobs: [SendEmail], store: postgresStore({ connectionString: process.env.DATABASE_URL }) });
 * ```
 */
export { MIGRATIONS, type Migration, migrationSql, SCHEMA_VERSION } from './migrations.ts';
export type { NotificationState } from './notification-wake.ts';
export { PostgresStore, postgresStore } from './postgres-store.ts';
export type { PostgresStoreOptions } from './postgres-store-options.ts';
export { DEFAULT_SCHEMA } from './schema-names.ts';
export type { WarningDetails, WarningListener } from './warnings.ts';
