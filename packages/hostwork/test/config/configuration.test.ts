import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argsSource, Configuration, envSource, objectSource } from '../../src/config/index.ts';

describe('Configuration', () => {
  it('lets later sources win, key by key', () => {
    const config = Configuration.fromSources([
      objectSource({ Smtp: { Host: 'localhost', Port: 25 } }),
      envSource({ Smtp__Port: '2525' }),
    ]);
    assert.equal(config.get('Smtp:Host'), 'localhost');
    assert.equal(config.get('Smtp:Port'), '2525');
    assert.equal(config.origin('Smtp:Port'), 'environment variable Smtp__Port');
    assert.equal(config.origin('Smtp:Host'), 'defaults in code');
    assert.equal(config.origin('Smtp:Nope'), undefined);
  });

  it('treats keys case-insensitively and keeps the casing of the first definition', () => {
    const config = new Configuration([
      objectSource({ Smtp: { Port: 25 } }),
      envSource({ SMTP__PORT: '2525', SMTP__USER_NAME: 'bob' }),
      argsSource(['--smtp:port=587']),
    ]);
    assert.equal(config.get('sMtP:pOrT'), '587');
    assert.equal(config.origin('SMTP:PORT'), 'command line --smtp:port');
    // The new key keeps the first casing of its section and its own casing for the new segment.
    assert.deepEqual(config.keys(), ['Smtp:Port', 'Smtp:USER_NAME']);
    assert.deepEqual(config.section('smtp').value, { Port: '587', USER_NAME: 'bob' });
    assert.equal(config.section('SMTP').key, 'Smtp');
  });

  it('builds nested objects and arrays from sections, merging arrays by index', () => {
    const config = new Configuration([
      objectSource({ Mail: { Hosts: [{ Name: 'a', Port: 1 }, { Name: 'b' }], Tags: [] } }),
      envSource({ MAIL__HOSTS__1__PORT: '2', MAIL__HOSTS__2__NAME: 'c' }),
    ]);
    assert.deepEqual(config.section('Mail').value, {
      // Casing is fixed per key: keys new to the object keep the casing they were first given.
      Hosts: [{ Name: 'a', Port: 1 }, { Name: 'b', PORT: '2' }, { NAME: 'c' }],
      Tags: [],
    });
    assert.deepEqual(config.section('Mail:Hosts:1').value, { Name: 'b', PORT: '2' });
  });

  it('keeps objects with gaps or non-index keys as objects', () => {
    const config = new Configuration([envSource({ A__0: 'x', A__2: 'y', B__0: 'x', B__01: 'y' })]);
    assert.deepEqual(config.section('').value, { A: { 0: 'x', 2: 'y' }, B: { 0: 'x', '01': 'y' } });
  });

  it('hands out a fresh copy of every section', () => {
    const config = new Configuration([objectSource({ S: { List: [], Name: 'n' } })]);
    const first = config.section('S').value as { List: unknown[]; Name: string };
    first.List.push(1);
    first.Name = 'changed';
    assert.deepEqual(config.section('S').value, { List: [], Name: 'n' });
  });

  it('gives undefined for an unset section, the value for a leaf, and has() for both', () => {
    const config = new Configuration([objectSource({ Smtp: { Port: 25 } })]);
    assert.equal(config.section('Queue').value, undefined);
    assert.equal(config.section('Smtp:Port').value, 25);
    assert.equal(config.get('Smtp'), undefined);
    assert.equal(config.has('smtp'), true);
    assert.equal(config.has('Smtp:Port'), true);
    assert.equal(config.has('Smt'), false);
  });

  it('finds the origin of any path inside a section', () => {
    const config = new Configuration([
      objectSource({ Smtp: { Port: 25, Tls: { Mode: 'auto' } } }),
      envSource({ SMTP__TLS__CERT: '/c.pem', SMTP__LIST: '[1,2]' }),
    ]);
    const smtp = config.section('SMTP');
    assert.equal(smtp.keyOf(['tls', 'cert']), 'Smtp:Tls:CERT');
    assert.equal(smtp.keyOf(['Missing', 0]), 'Smtp:Missing:0');
    assert.equal(smtp.originOf(['Port']), 'defaults in code');
    assert.equal(smtp.originOf(['Tls']), 'defaults in code, environment variable SMTP__TLS__CERT');
    // Inside a JSON string value, the origin is the string's.
    assert.equal(smtp.originOf(['List', 1]), 'environment variable SMTP__LIST');
    assert.equal(smtp.originOf(['Missing']), undefined);
  });
});
