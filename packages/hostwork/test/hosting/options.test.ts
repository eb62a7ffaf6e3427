import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { defineOptions } from '../../src/config/index.ts';
import { ScopeFactory } from '../../src/di/index.ts';
import { ErrorCodes } from '../../src/errors.ts';
import {
  createHostBuilder,
  ExitCodes,
  type HostedService,
  type HostOptions,
  HostOptions as HostOptionsKey,
} from '../../src/hosting/index.ts';
import { expectRejection, expectThrow, testHost } from './helpers.ts';

const T = { timeout: 20_000 };

const smtpSchema = z.object({
  Host: z.string().min(1),
  Port: z.number().int().min(1).max(65535),
  Secure: z.boolean().default(false),
});
type Smtp = z.infer<typeof smtpSchema>;
const SmtpOptions = defineOptions('Smtp', smtpSchema);

describe('options and configuration', () => {
  it(
    'invalid configuration fails the start with HW_CONFIG_INVALID before any service is touched',
    T,
    async () => {
      const events: string[] = [];
      class Mailer implements HostedService {
        static inject = [SmtpOptions] as const;
        constructor(_smtp: Smtp) {
          events.push('Mailer constructed');
        }
        start(): void {
          events.push('Mailer start');
        }
        stop(): void {}
      }
      class Other implements HostedService {
        constructor() {
          events.push('Other constructed');
        }
        starting(): void {
          events.push('Other starting');
        }
        start(): void {
          events.push('Other start');
        }
        stop(): void {}
      }
      const { builder, logs } = testHost({ env: { SMTP__PORT: 'twenty-five' } });
      builder.addOptions(SmtpOptions);
      builder.services.addHostedService(Other).addHostedService(Mailer);
      const host = builder.build();

      const error = await expectRejection(
        host.start(),
        ErrorCodes.CONFIG_INVALID,
        "options 'Smtp'",
        'expected number',
        '"twenty-five" from environment variable SMTP__PORT',
        'not set in any source',
      );
      // Keys are case-insensitive; the message shows the casing of the first source that set them (here the
      // environment variable), so only the key itself is checked, not its casing.
      assert.match(error.message, /^ {2}Smtp:Port: .*expected number.*environment variable SMTP__PORT\)$/im);
      assert.match(error.message, /^ {2}Smtp:Host: .*\(not set in any source\)$/im);
      assert.deepEqual(events, [], 'no hosted service may be constructed, let alone started');
      assert.equal(host.exitCode, ExitCodes.failure);
      assert.equal(logs.find('Host failed to start')!.err!.message, error.message);
    },
  );

  it(
    'valid options (strings from the environment coerced) are injectable into a hosted service',
    T,
    async () => {
      let received: Smtp | undefined;
      class Mailer implements HostedService {
        static inject = [SmtpOptions] as const;
        readonly #smtp: Smtp;
        constructor(smtp: Smtp) {
          this.#smtp = smtp;
        }
        start(): void {
          received = this.#smtp;
        }
        stop(): void {}
      }
      const { builder } = testHost({
        configuration: { Smtp: { Host: 'localhost', Port: 25 } },
        env: { SMTP__PORT: '2525', SMTP__SECURE: 'true' },
      });
      builder.addOptions(SmtpOptions);
      builder.services.addHostedService(Mailer);
      const host = builder.build();
      await host.start();
      await host.stop();
      assert.deepEqual(received, { Host: 'localhost', Port: 2525, Secure: true });
      assert.equal(host.exitCode, 0);
    },
  );

  it('options cannot be resolved before the host has started (they are validated by start)', T, () => {
    const { builder } = testHost({ env: { SMTP__HOST: 'mail', SMTP__PORT: '25' } });
    builder.addOptions(SmtpOptions);
    const host = builder.build();
    expectThrow(
      () => host.services.get(SmtpOptions),
      ErrorCodes.HOST_STATE,
      "Options 'Options<Smtp>'",
      'start',
    );
  });

  it(
    'a scoped service injected into a hosted service fails build() with HW_DI_SCOPED_IN_SINGLETON',
    T,
    () => {
      class DbContext {}
      class ReportWorker implements HostedService {
        static inject = [DbContext] as const;
        readonly db: DbContext;
        constructor(db: DbContext) {
          this.db = db;
        }
        start(): void {}
        stop(): void {}
      }
      const { builder } = testHost();
      builder.services.addScoped(DbContext);
      builder.services.addHostedService(ReportWorker);
      expectThrow(
        () => builder.build(),
        ErrorCodes.DI_SCOPED_IN_SINGLETON,
        "scoped service 'DbContext'",
        "singleton 'ReportWorker'",
        'ScopeFactory',
      );
    },
  );

  it(
    'the fix for it works: a hosted service using ScopeFactory gets a fresh scoped service per scope',
    T,
    async () => {
      const disposed: number[] = [];
      let next = 0;
      class DbContext {
        readonly id = ++next;
        [Symbol.dispose](): void {
          disposed.push(this.id);
        }
      }
      const seen: number[] = [];
      class ReportWorker implements HostedService {
        static inject = [ScopeFactory] as const;
        readonly #scopes: ScopeFactory;
        constructor(scopes: ScopeFactory) {
          this.#scopes = scopes;
        }
        async start(): Promise<void> {
          for (let i = 0; i < 2; i++) {
            await using scope = this.#scopes.createScope();
            seen.push(scope.services.get(DbContext).id, scope.services.get(DbContext).id);
          }
        }
        stop(): void {}
      }
      const { builder } = testHost();
      builder.services.addScoped(DbContext);
      builder.services.addHostedService(ReportWorker);
      const host = builder.build();
      await host.start();
      await host.stop();
      assert.deepEqual(seen, [1, 1, 2, 2]);
      assert.deepEqual(disposed, [1, 2]);
    },
  );
});

describe('HostOptions', () => {
  it("an unknown key ('shutdownTimout') fails with HW_UNKNOWN_OPTION suggesting 'shutdownTimeout'", T, () => {
    const typo = { shutdownTimout: 5000 } as Partial<HostOptions>;
    const { builder } = testHost({ host: typo });
    const error = expectThrow(
      () => builder.build(),
      ErrorCodes.UNKNOWN_OPTION,
      "'shutdownTimout'",
      "Did you mean 'shutdownTimeout'?",
    );
    assert.match(error.message, /HostOptions/);
  });

  it('an unknown createHostBuilder() setting fails at once', T, () => {
    const settings = { enviroment: 'Test' } as Parameters<typeof createHostBuilder>[0];
    expectThrow(() => createHostBuilder(settings), ErrorCodes.UNKNOWN_OPTION, "'enviroment'");
  });

  it('an out-of-range value fails with HW_INVALID_OPTION', T, () => {
    const { builder } = testHost({ host: { shutdownTimeout: -1 } });
    expectThrow(() => builder.build(), ErrorCodes.INVALID_OPTION, 'shutdownTimeout', '-1');
  });

  it(
    'Host:ShutdownTimeout from HOST__SHUTDOWNTIMEOUT overrides the code and is the budget used',
    T,
    async () => {
      class Stuck implements HostedService {
        start(): void {}
        stop(): Promise<void> {
          return new Promise<void>(() => {}); // ignores its signal
        }
      }
      const { builder, logs } = testHost({
        host: { shutdownTimeout: 15_000 },
        env: { HOST__SHUTDOWNTIMEOUT: '300' },
      });
      builder.services.addHostedService(Stuck);
      const host = builder.build();
      assert.equal(host.services.get(HostOptionsKey).shutdownTimeout, 300);

      await host.start();
      const began = performance.now();
      await host.stop();
      const elapsed = performance.now() - began;
      assert.ok(
        elapsed >= 250 && elapsed < 3000,
        `stop took ${Math.round(elapsed)} ms with the budget from the env`,
      );
      assert.equal(logs.find('did not stop within the shutdown timeout')!.shutdownTimeoutMs, 300);
      assert.equal(host.exitCode, ExitCodes.shutdownTimeout);
    },
  );

  it('a non-numeric HOST__SHUTDOWNTIMEOUT fails build() naming the key and its origin', T, () => {
    const { builder } = testHost({ env: { HOST__SHUTDOWNTIMEOUT: '10s' } });
    expectThrow(
      () => builder.build(),
      ErrorCodes.CONFIG_INVALID,
      'Host:ShutdownTimeout',
      '"10s"',
      'environment variable HOST__SHUTDOWNTIMEOUT',
    );
  });
});
