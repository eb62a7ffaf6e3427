import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import * as v from 'valibot';
import { z } from 'zod';
import {
  argsSource,
  bindAllOptions,
  bindOptions,
  Configuration,
  defineOptions,
  envSource,
  jsonFileSource,
  objectSource,
} from '../../src/config/index.ts';
import { ErrorCodes, HostworkError } from '../../src/errors.ts';

const SmtpZod = defineOptions(
  'Smtp',
  z.object({
    Host: z.string(),
    Port: z.number().int().max(65535).default(25),
    Secure: z.boolean().default(false),
    Password: z.string().optional(),
    Recipients: z.array(z.string()).default([]),
  }),
);

const SmtpValibot = defineOptions(
  'Smtp',
  v.object({
    Host: v.string(),
    Port: v.optional(v.pipe(v.number(), v.integer(), v.maxValue(65535)), 25),
    Secure: v.optional(v.boolean(), false),
    Password: v.optional(v.string()),
  }),
);

/** Runs `fn`, expecting a HW_CONFIG_INVALID error, and returns its message. */
async function invalidMessage(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof HostworkError, String(error));
    assert.equal(error.code, ErrorCodes.CONFIG_INVALID);
    return error.message;
  }
  assert.fail('expected HW_CONFIG_INVALID');
}

describe('defineOptions', () => {
  it('creates a token with a name, a unique id, the section and the schema', () => {
    const schema = z.object({});
    const a = defineOptions('Smtp', schema);
    const b = defineOptions('Smtp', schema);
    assert.equal(a.name, 'Options<Smtp>');
    assert.equal(a.section, 'Smtp');
    assert.equal(a.schema, schema);
    assert.notEqual(a.id, b.id);
  });
});

describe('bindOptions', () => {
  for (const [vendor, token] of [
    ['zod', SmtpZod],
    ['valibot', SmtpValibot],
  ] as const) {
    it(`coerces strings from the environment and the command line (${vendor})`, async () => {
      const config = new Configuration([
        envSource({ SMTP__HOST: 'mail.local', SMTP__PORT: '2525' }),
        argsSource(['--Smtp:Secure']),
      ]);
      const options = await bindOptions(config, token);
      assert.equal(options.Host, 'mail.local');
      assert.equal(options.Port, 2525);
      assert.equal(options.Secure, true);
    });

    it(`keeps a numeric-looking string for a string field (${vendor})`, async () => {
      const config = new Configuration([
        envSource({ SMTP__HOST: '10', SMTP__PASSWORD: '1234', SMTP__SECURE: 'false' }),
      ]);
      const options = await bindOptions(config, token);
      assert.equal(options.Host, '10');
      assert.equal(options.Password, '1234');
      assert.equal(options.Secure, false);
    });

    it(`reports a bad value with its key, problem, value and origin (${vendor})`, async () => {
      const config = new Configuration([
        objectSource({ Smtp: { Host: 'mail.local' } }),
        envSource({ SMTP__PORT: 'twenty-five' }),
      ]);
      const message = await invalidMessage(() => bindOptions(config, token));
      const lines = message.split('\n');
      assert.equal(lines[0], "Invalid configuration for options 'Smtp' (1 problem):");
      assert.match(
        lines[1]!,
        /^ {2}Smtp:PORT: .*number.* \(value "twenty-five" from environment variable SMTP__PORT\)$/,
      );
      assert.equal(lines[2], "Fix the value at its origin, or change the schema of options 'Smtp'.");
    });
  }

  it('binds keys case-insensitively to the casing of the schema', async () => {
    const config = new Configuration([
      envSource({ smtp__host: 'h', SMTP__RECIPIENTS__0: 'a@x', SMTP__RECIPIENTS__1: 'b@x' }),
    ]);
    assert.deepEqual(await bindOptions(config, SmtpZod), {
      Host: 'h',
      Port: 25,
      Secure: false,
      Recipients: ['a@x', 'b@x'],
    });
  });

  it('parses JSON text for arrays and objects', async () => {
    const Limits = defineOptions(
      'Limits',
      z.object({ Tiers: z.array(z.number()), Map: z.record(z.string(), z.number()) }),
    );
    const config = new Configuration([envSource({ LIMITS__TIERS: '[1, 2, 3]', LIMITS__MAP: '{"a": 1}' })]);
    assert.deepEqual(await bindOptions(config, Limits), { Tiers: [1, 2, 3], Map: { a: 1 } });
  });

  it('reports a number that stays invalid after coercion with the value as written', async () => {
    const config = new Configuration([argsSource(['--Smtp:Host=h', '--smtp:port', '70000'])]);
    const message = await invalidMessage(() => bindOptions(config, SmtpZod));
    assert.match(message, /Smtp:port: Too big: .*65535 \(value "70000" from command line --smtp:port\)/);
  });

  for (const [vendor, schema] of [
    ['zod', z.object({ Password: z.string().min(8) })],
    ['valibot', v.object({ Password: v.pipe(v.string(), v.minLength(8, 'At least 8 characters')) })],
  ] as const) {
    it(`does not turn a too-short numeric password into a number to complain about its type (${vendor})`, async () => {
      const config = new Configuration([envSource({ DB__PASSWORD: '1234' })]);
      const message = await invalidMessage(() => bindOptions(config, defineOptions('Db', schema)));
      assert.match(
        message,
        /DB:PASSWORD: (Too small|At least 8).* \(value "1234" from environment variable DB__PASSWORD\)/,
      );
      assert.doesNotMatch(message, /received number/i);
    });
  }

  it('works with any Standard Schema, not only the known vendors', async () => {
    const schema: StandardSchemaV1<unknown, { Level: number }> = {
      '~standard': {
        version: 1,
        vendor: 'hand-written',
        validate: (input) => {
          const level = (input as { Level?: unknown }).Level;
          return typeof level === 'number' && level >= 1 && level <= 5
            ? { value: { Level: level } }
            : { issues: [{ message: 'Level must be a number from 1 to 5', path: ['Level'] }] };
        },
      },
    };
    const Log = defineOptions('Log', schema);
    assert.deepEqual(await bindOptions(new Configuration([envSource({ LOG__LEVEL: '3' })]), Log), {
      Level: 3,
    });
    const message = await invalidMessage(() =>
      bindOptions(new Configuration([envSource({ LOG__LEVEL: '9' })]), Log),
    );
    assert.match(
      message,
      /LOG:LEVEL: Level must be a number from 1 to 5 \(value "9" from environment variable LOG__LEVEL\)/,
    );
  });

  it('says when a required key is not set anywhere, and lists every problem', async () => {
    const config = new Configuration([envSource({ SMTP__PORT: 'x', SMTP__SECURE: 'maybe' })]);
    const message = await invalidMessage(() => bindOptions(config, SmtpZod));
    const lines = message.split('\n');
    assert.equal(lines[0], "Invalid configuration for options 'Smtp' (3 problems):");
    assert.match(message, /\n {2}SMTP:Host: .* \(not set in any source\)\n/);
    assert.match(message, /\n {2}SMTP:PORT: .* \(value "x" from environment variable SMTP__PORT\)\n/);
    assert.match(message, /\n {2}SMTP:SECURE: .* \(value "maybe" from environment variable SMTP__SECURE\)\n/);
  });

  it('names the file a bad value came from and truncates long values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hostwork-config-'));
    const file = join(dir, 'hostwork.json');
    writeFileSync(file, JSON.stringify({ Smtp: { Host: 'h', Port: 'x'.repeat(100) } }));
    const message = await invalidMessage(() =>
      bindOptions(new Configuration([jsonFileSource(file)]), SmtpZod),
    );
    const line = message.split('\n')[1]!;
    assert.ok(line.includes(`(value "${'x'.repeat(58)}… from file ${file})`), line);
  });

  it('validates an unset section as {} so that defaults apply', async () => {
    const Queue = defineOptions('Queue', z.object({ Size: z.number().default(100) }));
    assert.deepEqual(await bindOptions(new Configuration([]), Queue), { Size: 100 });
  });

  it('supports asynchronous schemas', async () => {
    const Async = defineOptions(
      'A',
      z.object({ N: z.number() }).refine(async (o) => o.N > 1, { message: 'N must exceed 1', path: ['N'] }),
    );
    assert.deepEqual(await bindOptions(new Configuration([envSource({ A__N: '2' })]), Async), { N: 2 });
    const message = await invalidMessage(() =>
      bindOptions(new Configuration([envSource({ A__N: '1' })]), Async),
    );
    assert.match(message, /A:N: N must exceed 1 \(value "1" from environment variable A__N\)/);
  });

  it('hands out plain objects even when the schema passes the input through', async () => {
    const Loose = defineOptions('L', z.looseObject({ Inner: z.looseObject({}) }));
    const value = await bindOptions(new Configuration([objectSource({ L: { Inner: { X: 1 } } })]), Loose);
    assert.deepEqual(structuredClone(value), { Inner: { X: 1 } });
  });
});

describe('bindAllOptions', () => {
  const Queue = defineOptions('Queue', z.object({ Size: z.number().positive() }));

  it('returns every value in order', async () => {
    const config = new Configuration([envSource({ SMTP__HOST: 'h', QUEUE__SIZE: '5' })]);
    const [smtp, queue] = await bindAllOptions(config, [SmtpZod, Queue]);
    assert.equal(smtp.Host, 'h');
    assert.equal(queue.Size, 5);
  });

  it('throws one error listing the problems of every section', async () => {
    const config = new Configuration([objectSource({ Queue: { Size: -1 } }), envSource({ SMTP__PORT: 'x' })]);
    const message = await invalidMessage(() => bindAllOptions(config, [SmtpZod, Queue]));
    assert.match(message, /^Invalid configuration: 2 of 2 options sections failed validation\.\n\n/);
    assert.match(message, /SMTP:Host: .*\(not set in any source\)/);
    assert.match(message, /SMTP:PORT: .*\(value "x" from environment variable SMTP__PORT\)/);
    assert.match(message, /Queue:Size: Too small: .*\(value -1 from defaults in code\)/);
    assert.match(message, /change the schema of options 'Smtp'\.\n\n/);
    assert.match(message, /change the schema of options 'Queue'\.$/);
  });
});
