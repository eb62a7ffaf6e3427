import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ErrorCodes } from '../src/errors.ts';

// docs/errors.md lists every code, and nothing else: a new code without a line in the catalogue fails here.
it('docs/errors.md has one row for every error code and no other', () => {
  const page = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...page.matchAll(/^\| `(HW_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, Object.values(ErrorCodes).sort());
});
