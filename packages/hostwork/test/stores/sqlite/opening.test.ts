import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { ErrorCodes } from '../../../src/errors.ts';
import { SCHEMA_VERSION } from '../../../src/stores/sqlite/migrations.ts';
import { sqliteStore } from '../../../src/stores/sqlite/sqlite-store.ts';
import { expectRejection, newJob, useTemp } from './helpers.ts';

/** Reads one pragma of a file through a connection of its own. */
function pragma(path: string, name: string): unknown {
  const db = new DatabaseSync(path);
  try {
    return Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0];
  } finally {
    db.close();
  }
}

function tablesOf(path: string): string[] {
  const db = new DatabaseSync(path);
  try {
    return db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => String(r.name));
  } finally {
    db.close();
  }
}

describe('sqlite store: opening the file', () => {
  const temp = useTemp();

  it('creates a missing parent folder and the file, in WAL mode', async () => {
    const path = join(temp.dir(), 'nested', 'deeper', 'jobs.db');
    const store = temp.store({ path });
    await store.migrate();
    assert.ok(existsSync(path));
    assert.equal(pragma(path, 'journal_mode'), 'wal');
  });

  it('resolves a relative path against the working directory and reports it absolute', () => {
    const path = join(temp.dir(), 'jobs.db');
    const store = sqliteStore({ path: relative(process.cwd(), path) });
    assert.equal(store.path, path);
  });

  it('opens lazily: constructing the store touches no file', () => {
    const path = join(temp.dir(), 'jobs.db');
    temp.store({ path });
    assert.equal(existsSync(path), false);
  });

  it("keeps the jobs in memory for ':memory:'", async () => {
    const store = temp.store({ path: ':memory:' });
    assert.equal(store.path, ':memory:');
    const [result] = await store.insert([newJob()]);
    assert.equal((await store.get(result!.id))?.state, 'pending');
  });

  it('refuses a file that is not a database, naming the path, the problem and the fix', async () => {
    const path = join(temp.dir(), 'notes.txt');
    writeFileSync(path, 'These are my notes, not a database. '.repeat(20));
    await expectRejection(
      temp.store({ path }).migrate(),
      ErrorCodes.STORE_OPEN,
      path,
      'is not a SQLite database (file is not a database)',
      'Fix: point Jobs:Sqlite:Path at a new file or at a Hostwork job database.',
    );
  });

  it('refuses a directory, naming it and suggesting a file inside', async () => {
    const dir = temp.dir();
    await expectRejection(
      temp.store({ path: dir }).migrate(),
      ErrorCodes.STORE_OPEN,
      dir,
      'is a directory',
      `Fix: point Jobs:Sqlite:Path at a file, e.g. ${dir}/jobs.db.`,
    );
  });

  it('refuses a path whose parent is a file, naming the folder', async () => {
    const file = join(temp.dir(), 'plain-file');
    writeFileSync(file, 'x');
    const path = join(file, 'jobs.db');
    await expectRejection(
      temp.store({ path }).migrate(),
      ErrorCodes.STORE_OPEN,
      `Cannot create the folder ${file}`,
      path,
      'Fix:',
    );
  });

  it('refuses a SQLite database of another application (tables, no marker) and leaves it untouched', async () => {
    const path = join(temp.dir(), 'app.db');
    const other = new DatabaseSync(path);
    other.exec(
      "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');",
    );
    other.close();
    await expectRejection(
      temp.store({ path }).migrate(),
      ErrorCodes.STORE_OPEN,
      path,
      'is a SQLite database of another application (it has tables but no Hostwork marker)',
      'Fix: point Jobs:Sqlite:Path at a new file or at a Hostwork job database',
    );
    assert.deepEqual(tablesOf(path), ['users']);
    assert.equal(pragma(path, 'journal_mode'), 'delete', 'not switched to WAL');
    assert.equal(pragma(path, 'application_id'), 0);
  });

  it('refuses a database carrying another application_id, even without tables', async () => {
    const path = join(temp.dir(), 'other.db');
    const other = new DatabaseSync(path);
    other.exec('PRAGMA application_id = 123');
    other.close();
    await expectRejection(
      temp.store({ path }).migrate(),
      ErrorCodes.STORE_OPEN,
      path,
      'belongs to another application (its application_id is 0x0000007b)',
    );
  });

  it('accepts an empty SQLite database (no tables) and makes it a job database', async () => {
    const path = join(temp.dir(), 'empty.db');
    const empty = new DatabaseSync(path);
    empty.exec('PRAGMA user_version = 0');
    empty.close();
    await temp.store({ path }).migrate();
    assert.deepEqual(tablesOf(path), [
      'hw_inbox',
      'hw_jobs',
      'hw_leader',
      'hw_outbox',
      'hw_schedules',
      'hw_workers',
      'sqlite_sequence', // hw_outbox's AUTOINCREMENT: a seq is never reused, even after pruning
    ]);
  });

  it('refuses a job database of a newer schema version, saying to upgrade', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const first = sqliteStore({ path });
    await first.migrate();
    await first.close();
    const db = new DatabaseSync(path);
    db.exec('PRAGMA user_version = 99');
    db.close();
    await expectRejection(
      temp.store({ path }).migrate(),
      ErrorCodes.STORE_OPEN,
      path,
      `has schema version 99, written by a newer Hostwork; this version understands up to ${SCHEMA_VERSION}`,
      'Fix: upgrade Hostwork',
    );
  });

  it('reports the open error from any first call, not only migrate()', async () => {
    const dir = temp.dir();
    await expectRejection(temp.store({ path: dir }).counts(), ErrorCodes.STORE_OPEN, dir, 'is a directory');
  });

  it('refuses use after close, and close is idempotent', async () => {
    const path = join(temp.dir(), 'jobs.db');
    const store = sqliteStore({ path });
    await store.migrate();
    await store.close();
    await store.close();
    await store[Symbol.asyncDispose]();
    await expectRejection(store.counts(), ErrorCodes.HOST_STATE, path, 'is closed');
  });

  it('refuses unknown and invalid options', async () => {
    assert.throws(() => sqliteStore({ path: 'x.db', busyTimeout: 5 } as never), {
      code: ErrorCodes.UNKNOWN_OPTION,
      message: /Unknown option 'busyTimeout' in sqliteStore options\. Did you mean 'busyTimeoutMs'\?/,
    });
    assert.throws(() => sqliteStore({ path: '' }), {
      code: ErrorCodes.INVALID_OPTION,
      message: /path must be/,
    });
    assert.throws(() => sqliteStore({ path: 'x.db', busyTimeoutMs: -1 }), {
      code: ErrorCodes.INVALID_OPTION,
      message: /busyTimeoutMs must be an integer >= 0, got -1/,
    });
    assert.throws(() => sqliteStore({ path: 'x.db', pollIntervalMs: 0 }), {
      code: ErrorCodes.INVALID_OPTION,
      message: /pollIntervalMs must be a number >= 1, got 0/,
    });
    assert.throws(() => sqliteStore({ path: 'x.db', synchronous: 'off' as never }), {
      code: ErrorCodes.INVALID_OPTION,
      message: /synchronous must be 'normal' or 'full', got "off"/,
    });
  });
});
