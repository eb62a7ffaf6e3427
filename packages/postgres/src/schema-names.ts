/**
 * Every name the store derives from its schema: the quoted schema, the NOTIFY channel, the migration lock key and the
 * names of prepared statements. Derived once, at construction, so no statement is ever built from user input later.
 */
import { createHash } from 'node:crypto';
import { ErrorCodes, HostworkError } from 'hostwork';

/** The default schema of the store's tables. */
export const DEFAULT_SCHEMA = 'hostwork';

/**
 * A plain identifier: letters, digits and underscores, not starting with a digit, at most 63 bytes (PostgreSQL's
 * identifier limit, beyond which names are silently truncated). Quoted everywhere, so case is kept as given.
 */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Throws an INVALID_OPTION error unless `schema` is a name the store accepts. */
export function assertSchemaName(schema: unknown, where: string): asserts schema is string {
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: schema must be 1 to 63 letters, digits or underscores, not starting with a digit; got ${JSON.stringify(schema)}.`,
    );
  }
}

/** The schema as a quoted SQL identifier (the name is already validated, so quoting is only about case). */
export function quoteSchema(schema: string): string {
  return `"${schema}"`;
}

/**
 * The LISTEN/NOTIFY channel of a schema. Channel names are identifiers (at most 63 bytes), so a long schema name is
 * replaced by its hash rather than truncated into a collision with another schema's channel.
 */
export function channelName(schema: string): string {
  const plain = `hostwork.${schema}`;
  return plain.length <= 63 ? plain : `hostwork.${sha256(schema).slice(0, 40)}`;
}

/**
 * The key of the transaction-level advisory lock that serializes migrations of one schema: the first 64 bits of a
 * hash of the schema name, as the signed bigint `pg_advisory_xact_lock` takes. Other schemas migrate in parallel.
 */
export function migrationLockKey(schema: string): bigint {
  return Buffer.from(sha256(`hostwork.migrate:${schema}`), 'hex').readBigInt64BE(0);
}

/** The advisory lock serializing outbox claims of one schema (see CLAIM_OUTBOX). */
export function outboxLockKey(schema: string): bigint {
  return Buffer.from(sha256(`hostwork.outbox:${schema}`), 'hex').readBigInt64BE(0);
}

/**
 * The name of a prepared statement: a hash of its text, so two stores on different schemas (different texts) sharing
 * a connection never collide, and the same text always reuses the statement already prepared on that connection.
 */
export function statementName(text: string): string {
  return `hostwork_${sha256(text).slice(0, 24)}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
