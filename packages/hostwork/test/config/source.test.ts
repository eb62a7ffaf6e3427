import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { argsSource, envSource, jsonFileSource, objectSource } from '../../src/config/index.ts';
import { ErrorCodes, HostworkError } from '../../src/errors.ts';

const entries = (source: { load(): Iterable<{ key: string; value: unknown; origin: string }> }) => [
  ...source.load(),
];
const pairs = (source: Parameters<typeof entries>[0]) =>
  Object.fromEntries(entries(source).map((e) => [e.key, e.value]));

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hostwork-config-'));
}

describe('objectSource', () => {
  it('flattens nested objects and arrays into colon keys, keeping empty containers and non-plain objects', () => {
    const when = new Date(0);
    const source = objectSource({
      Smtp: { Port: 25, Hosts: ['a', { Name: 'b' }] },
      Tags: [],
      Extra: {},
      When: when,
    });
    assert.deepEqual(pairs(source), {
      'Smtp:Port': 25,
      'Smtp:Hosts:0': 'a',
      'Smtp:Hosts:1:Name': 'b',
      Tags: [],
      Extra: {},
      When: when,
    });
    assert.equal(entries(source)[0]!.origin, 'defaults in code');
    assert.equal(entries(objectSource({ A: 1 }, 'plugin defaults'))[0]!.origin, 'plugin defaults');
  });
});

describe('jsonFileSource', () => {
  it('reads a JSON object and names the absolute file as origin', () => {
    const dir = tempDir();
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ Smtp: { Port: 25, Secure: true } }));
    assert.deepEqual(entries(jsonFileSource(file)), [
      { key: 'Smtp:Port', value: 25, origin: `file ${file}` },
      { key: 'Smtp:Secure', value: true, origin: `file ${file}` },
    ]);
  });

  it('gives no entries for a missing optional file, and an error for a missing required one', () => {
    const file = join(tempDir(), 'absent.json');
    assert.deepEqual(entries(jsonFileSource(file, { optional: true })), []);
    assert.throws(
      () => entries(jsonFileSource(file)),
      (e: HostworkError) => e.code === ErrorCodes.CONFIG_FILE && e.message.includes(file),
    );
  });

  it('reports broken JSON with the path and the parse error, even when optional', () => {
    const file = join(tempDir(), 'hostwork.json');
    writeFileSync(file, '{ "Smtp": { "Port": 25, } }');
    assert.throws(
      () => entries(jsonFileSource(file, { optional: true })),
      (e: unknown) => {
        assert.ok(e instanceof HostworkError);
        assert.equal(e.code, ErrorCodes.CONFIG_FILE);
        assert.match(e.message, new RegExp(`${file.replaceAll('/', '\\/')}: invalid JSON \\(.*position`));
        return true;
      },
    );
  });

  it('rejects a file whose top level is not an object', () => {
    const file = join(tempDir(), 'list.json');
    writeFileSync(file, '[1, 2]');
    assert.throws(
      () => entries(jsonFileSource(file)),
      /list\.json: the top level must be a JSON object, found an array/,
    );
  });

  it('reports a path that cannot be read as a file, even when optional', () => {
    const dir = tempDir();
    assert.throws(
      () => entries(jsonFileSource(dir, { optional: true })),
      (e: HostworkError) =>
        e.code === ErrorCodes.CONFIG_FILE && e.message.includes(dir) && e.message.includes('EISDIR'),
    );
  });

  it('rejects a misspelt option', () => {
    assert.throws(() => jsonFileSource('x.json', { optinal: true } as never), /Did you mean 'optional'/);
  });
});

describe('envSource', () => {
  it('turns __ into sections and names the variable as origin', () => {
    const source = envSource({ SMTP__PORT: '25', HOME: '/root', UNSET: undefined });
    assert.deepEqual(entries(source), [
      { key: 'SMTP:PORT', value: '25', origin: 'environment variable SMTP__PORT' },
      { key: 'HOME', value: '/root', origin: 'environment variable HOME' },
    ]);
  });

  it('with a prefix takes only matching variables and strips the prefix', () => {
    const source = envSource(
      { MYAPP_Smtp__Port: '25', OTHER: 'x', MYAPP_: 'empty key' },
      { prefix: 'MYAPP_' },
    );
    assert.deepEqual(entries(source), [
      { key: 'Smtp:Port', value: '25', origin: 'environment variable MYAPP_Smtp__Port' },
    ]);
  });
});

describe('argsSource', () => {
  it('accepts --key=value, --key__sub=value, --key value and bare flags; ignores positionals', () => {
    const source = argsSource([
      'serve',
      '--Smtp:Port=25',
      '--Smtp__Host=mail.local',
      '--Log:Level',
      'debug',
      '--Verbose',
      '--Dry',
      'positional',
      '--Empty=',
      '--Last',
    ]);
    assert.deepEqual(entries(source), [
      { key: 'Smtp:Port', value: '25', origin: 'command line --Smtp:Port' },
      { key: 'Smtp:Host', value: 'mail.local', origin: 'command line --Smtp__Host' },
      { key: 'Log:Level', value: 'debug', origin: 'command line --Log:Level' },
      { key: 'Verbose', value: 'true', origin: 'command line --Verbose' },
      { key: 'Dry', value: 'positional', origin: 'command line --Dry' },
      { key: 'Empty', value: '', origin: 'command line --Empty' },
      { key: 'Last', value: 'true', origin: 'command line --Last' },
    ]);
  });

  it('stops at a bare --', () => {
    assert.deepEqual(pairs(argsSource(['--A=1', '--', '--B=2'])), { A: '1' });
  });
});
