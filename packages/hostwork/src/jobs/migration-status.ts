/**
 * Where a store's schema stands, read without changing anything: what `migrate()` would do. Each store offers it as
 * a method of its own (`SqliteStore.migrationStatus()`, `PostgresStore.migrationStatus()`), outside the
 * {@link JobStore} interface the engine uses, for deploy pipelines and the `hostwork migrate status` command.
 */
export interface MigrationStatus {
  /** The schema version the database holds: 0 when it holds no job store yet. */
  readonly current: number;
  /**
   * The version this Hostwork writes; `migrate()` brings `current` up to it. Migrations are pending when `current`
   * is lower; a higher `current` was written by a newer Hostwork, which this one refuses to use.
   */
  readonly latest: number;
}
