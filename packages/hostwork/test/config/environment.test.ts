import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  Configuration,
  defaultConfigSources,
  isDevelopment,
  resolveEnvironmentName,
} from '../../src/config/index.ts';

describe('resolveEnvironmentName', () => {
  it('defaults to Production', () => {
    assert.equal(resolveEnvironmentName({}), 'Production');
    assert.equal(resolveEnvironmentName({ NODE_ENV: '  ' }), 'Production');
  });

  it('maps NODE_ENV to Hostwork casing and capitalises other values', () => {
    assert.equal(resolveEnvironmentName({ NODE_ENV: 'development' }), 'Development');
    assert.equal(resolveEnvironmentName({ NODE_ENV: 'production' }), 'Production');
    assert.equal(resolveEnvironmentName({ NODE_ENV: 'test' }), 'Test');
    assert.equal(resolveEnvironmentName({ NODE_ENV: 'qa-eu' }), 'Qa-eu');
  });

  it('lets HOSTWORK_ENVIRONMENT win over NODE_ENV, as given', () => {
    assert.equal(
      resolveEnvironmentName({ HOSTWORK_ENVIRONMENT: 'Staging', NODE_ENV: 'development' }),
      'Staging',
    );
    assert.equal(resolveEnvironmentName({ HOSTWORK_ENVIRONMENT: 'local' }), 'local');
  });

  it('isDevelopment ignores case', () => {
    assert.equal(isDevelopment('Development'), true);
    assert.equal(isDevelopment('development'), true);
    assert.equal(isDevelopment('Production'), false);
  });
});

describe('defaultConfigSources', () => {
  it('layers defaults < hostwork.json < hostwork.<Env>.json < environment < command line', () => {
    const root = mkdtempSync(join(tmpdir(), 'hostwork-config-'));
    const base = join(root, 'hostwork.json');
    const staging = join(root, 'hostwork.Staging.json');
    writeFileSync(base, JSON.stringify({ L: { File: 'file', EnvFile: 'file', Env: 'file', Args: 'file' } }));
    writeFileSync(staging, JSON.stringify({ L: { EnvFile: 'staging', Env: 'staging', Args: 'staging' } }));
    const config = new Configuration(
      defaultConfigSources({
        contentRoot: root,
        env: { HOSTWORK_ENVIRONMENT: 'Staging', L__ENV: 'env', L__ARGS: 'env' },
        args: ['--L:Args=args'],
        defaults: { L: { Defaults: 'code', File: 'code', EnvFile: 'code', Env: 'code', Args: 'code' } },
      }),
    );
    assert.deepEqual(config.section('L').value, {
      Defaults: 'code',
      File: 'file',
      EnvFile: 'staging',
      Env: 'env',
      Args: 'args',
    });
    assert.equal(config.origin('L:Defaults'), 'defaults in code');
    assert.equal(config.origin('L:File'), `file ${base}`);
    assert.equal(config.origin('L:EnvFile'), `file ${staging}`);
    assert.equal(config.origin('L:Env'), 'environment variable L__ENV');
    assert.equal(config.origin('L:Args'), 'command line --L:Args');
  });

  it('works without any file and uses the given environment name', () => {
    const root = mkdtempSync(join(tmpdir(), 'hostwork-config-'));
    writeFileSync(join(root, 'hostwork.Production.json'), '{"Only":"production"}');
    const config = new Configuration(
      defaultConfigSources({
        contentRoot: root,
        environmentName: 'Test',
        env: {},
        args: [],
        defaults: { A: 1 },
      }),
    );
    assert.deepEqual(config.keys(), ['A']);
  });
});
