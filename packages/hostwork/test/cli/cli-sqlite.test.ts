/** The `hostwork` command on the SQLite store: each test on a temporary database file. */
import { describe } from 'node:test';
import { cliScenarios } from './scenarios.ts';
import { sqliteTarget } from './support.ts';

describe('the hostwork command on SQLite', () => {
  cliScenarios(async () => sqliteTarget());
});
