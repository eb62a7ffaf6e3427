/**
 * create-hostwork in a real terminal: the command runs on a pseudo-terminal (util-linux `script`), a user's keys
 * are typed into it, and what it writes is checked on disk.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const root = mkdtempSync(join(tmpdir(), 'create-hostwork-tty-'));
after(() => rmSync(root, { recursive: true, force: true }));

const entry = join(import.meta.dirname, '..', 'src', 'index.ts');
const DOWN = '\x1b[B';
const CTRL_C = '\x03';

/** The command on a pseudo-terminal of 100 × 40 (a terminal of size 0 would wrap every character). */
function inTerminal(args: string) {
  const command = `stty cols 100 rows 40; exec "${process.execPath}" --conditions=hostwork-source "${entry}" ${args}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: root,
    env: { ...process.env, TERM: 'xterm' },
  });
  let screen = '';
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    exited,
    get screen() {
      return screen;
    },
    /** Waits until `text` has been drawn, then types `keys` (one key at a time, as a user would). */
    async answer(text: string, ...keys: string[]) {
      const deadline = performance.now() + 15_000;
      while (!screen.includes(text)) {
        if (performance.now() > deadline) assert.fail(`the prompt '${text}' never appeared:\n${screen}`);
        await sleep(20);
      }
      for (const key of keys) {
        child.stdin.write(key);
        await sleep(50);
      }
    },
    end() {
      child.stdin.end();
    },
  };
}

describe('create-hostwork in a terminal', () => {
  it('asks for the folder, the template and the store, and writes what was chosen', {
    timeout: 30_000,
  }, async () => {
    const t = inTerminal('');
    await t.answer('Project folder', ...'tty-api', '\r');
    await t.answer('Template', DOWN, '\r'); // the second choice: api
    await t.answer('Where jobs are stored', DOWN, '\r'); // the second choice: postgres
    await t.answer('Created');
    t.end();
    assert.equal(await t.exited, 0, t.screen);
    const manifest = JSON.parse(readFileSync(join(root, 'tty-api', 'package.json'), 'utf8')) as {
      name: string;
      dependencies: Record<string, string>;
    };
    assert.equal(manifest.name, 'tty-api');
    assert.ok(manifest.dependencies['@hostwork/postgres'], 'the postgres store was chosen');
    assert.ok(existsSync(join(root, 'tty-api', 'src', 'http-server.ts')), 'the api template was chosen');
  });

  it('asks only for what the flags leave open', { timeout: 30_000 }, async () => {
    const t = inTerminal('tty-flags --template worker');
    await t.answer('Where jobs are stored', '\r'); // the first choice: sqlite
    await t.answer('Created');
    t.end();
    assert.equal(await t.exited, 0, t.screen);
    assert.ok(!t.screen.includes('Project folder'), 'the folder was given');
    assert.ok(!t.screen.includes('Template'), 'the template was given');
    const manifest = readFileSync(join(root, 'tty-flags', 'package.json'), 'utf8');
    assert.ok(!manifest.includes('@hostwork/postgres'), 'sqlite, the first choice');
  });

  it('writes nothing when the user presses Ctrl+C', { timeout: 30_000 }, async () => {
    const t = inTerminal('');
    await t.answer('Project folder', ...'tty-cancelled', CTRL_C);
    t.end();
    assert.equal(await t.exited, 1, t.screen);
    assert.match(t.screen, /cancelled; nothing was written/);
    assert.ok(!existsSync(join(root, 'tty-cancelled')));
  });
});
