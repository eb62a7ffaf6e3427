import type { Configuration } from '../config/configuration.ts';
import { Configuration as ConfigurationClass } from '../config/configuration.ts';
import { defaultConfigSources } from '../config/defaults.ts';
import { isDevelopment, resolveEnvironmentName } from '../config/environment.ts';
import type { OptionsToken } from '../config/options.ts';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { LoggingOptions } from '../logging/logger-factory.ts';
import { createLoggerFactory, LoggerFactory, loggingDefaults } from '../logging/logger-factory.ts';
import { ApplicationLifetime } from './application-lifetime.ts';
import { Host } from './host.ts';
import { HostEnvironment } from './host-environment.ts';
import type { HostOptions } from './host-options.ts';
import { HostOptions as HostOptionsKey, resolveHostOptions } from './host-options.ts';
import { HostServiceCollection } from './host-services.ts';

/** Settings of {@link createHostBuilder}; every one has a default. */
export interface HostBuilderSettings {
  /** Command-line arguments, the last configuration layer. Default: `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Environment variables. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Folder holding `hostwork.json` and `hostwork.<Environment>.json`. Default: the working directory. */
  readonly contentRoot?: string;
  /** Overrides HOSTWORK_ENVIRONMENT / NODE_ENV. */
  readonly environmentName?: string;
  /** Configuration defaults in code: the first, weakest layer. */
  readonly configuration?: Record<string, unknown>;
  /** Validate the service graph at build and scoped resolutions at run time. Default: true. */
  readonly validateServices?: boolean;
  /** Host options in code; the `Host` configuration section overrides them. */
  readonly host?: Partial<HostOptions>;
  /**
   * Logging in code; the `Logging` configuration section (`Level`, `Pretty`) overrides it. `logging.logger` is the
   * application's own pino logger, used as it is (see {@link LoggingOptions.logger}).
   */
  readonly logging?: LoggingOptions;
}

const SETTINGS = [
  'args',
  'env',
  'contentRoot',
  'environmentName',
  'configuration',
  'validateServices',
  'host',
  'logging',
] as const;

/**
 * Collects services, configuration and options, then builds a {@link Host}.
 *
 * @example
 * ```ts
 * const builder = createHostBuilder();
 * builder.services.addHostedService(CleanupWorker);
 * await builder.build().run();
 * ```
 */
export class HostBuilder {
  /** Register services and hosted services here. */
  readonly services = new HostServiceCollection();
  /** The configuration, already merged, so registrations can read it. */
  readonly configuration: Configuration;
  /** Where the application runs. */
  readonly environment: HostEnvironment;
  readonly #settings: HostBuilderSettings;
  readonly #options: OptionsToken<unknown>[] = [];
  readonly #bound = new Map<symbol, unknown>();
  #built = false;

  constructor(settings: HostBuilderSettings = {}) {
    assertKnownKeys('createHostBuilder() settings', settings, SETTINGS);
    this.#settings = settings;
    const env = settings.env ?? process.env;
    const name = settings.environmentName ?? resolveEnvironmentName(env);
    const contentRoot = settings.contentRoot ?? process.cwd();
    this.environment = { name, contentRoot, isDevelopment: isDevelopment(name) };
    this.configuration = ConfigurationClass.fromSources(
      defaultConfigSources({
        contentRoot,
        environmentName: name,
        env,
        args: settings.args ?? process.argv.slice(2),
        defaults: settings.configuration ?? {},
      }),
    );
  }

  /**
   * Registers typed options bound from their configuration section. They are validated when the host starts,
   * before any service starts; invalid configuration stops the start with an error naming key, problem and origin.
   */
  addOptions<T>(token: OptionsToken<T>): this {
    if (!this.#options.includes(token as OptionsToken<unknown>))
      this.#options.push(token as OptionsToken<unknown>);
    this.services.addSingleton(token, {
      factory: () => {
        if (!this.#bound.has(token.id)) {
          throw new HostworkError(
            ErrorCodes.HOST_STATE,
            `Options '${token.name}' are bound and validated when the host starts; resolve them after host.start().`,
          );
        }
        return this.#bound.get(token.id) as T;
      },
    });
    return this;
  }

  /** Builds the host. With validation on (the default), a broken service graph fails here. */
  build(): Host {
    if (this.#built)
      throw new HostworkError(ErrorCodes.HOST_STATE, 'HostBuilder.build() can only be called once.');
    this.#built = true;
    const options = resolveHostOptions({
      ...this.#settings.host,
      ...hostOptionsFromConfiguration(this.configuration),
    });
    const lifetime = new ApplicationLifetime();
    const services = this.services;
    // A LoggerFactory the application registered itself wins over the host's default.
    const own = services.has(LoggerFactory);
    const defaultFactory = own ? undefined : createLoggerFactory(this.#loggingOptions());
    services.addSingleton(ConfigurationClass, { value: this.configuration });
    services.addSingleton(HostEnvironment, { value: this.environment });
    services.addSingleton(HostOptionsKey, { value: options });
    if (defaultFactory) services.addSingleton(LoggerFactory, { value: defaultFactory });
    services.addSingleton(ApplicationLifetime, { value: lifetime });
    const container = services.build({ validate: this.#settings.validateServices ?? true });
    const loggerFactory = defaultFactory ?? container.root.services.get(LoggerFactory);
    return new Host({
      container,
      configuration: this.configuration,
      environmentName: this.environment.name,
      options,
      lifetime,
      loggerFactory,
      hostedServices: services.hostedServices(),
      optionTokens: this.#options,
      boundOptions: this.#bound,
    });
  }

  #loggingOptions(): LoggingOptions {
    // The application's own logger is used as it is: its level and destination are the application's choice.
    if (this.#settings.logging?.logger !== undefined) return { logger: this.#settings.logging.logger };
    const defaults = loggingDefaults(this.environment.isDevelopment);
    const level = this.configuration.get('Logging:Level');
    const pretty = this.configuration.get('Logging:Pretty');
    return {
      ...defaults,
      ...this.#settings.logging,
      ...(typeof level === 'string' ? { level: level as LoggingOptions['level'] } : {}),
      ...(pretty !== undefined ? { pretty: pretty === true || pretty === 'true' } : {}),
    };
  }
}

/** Reads the `Host` configuration section (e.g. HOST__SHUTDOWNTIMEOUT=10000) into host options. */
function hostOptionsFromConfiguration(configuration: Configuration): Partial<HostOptions> {
  const result: Record<string, unknown> = {};
  const numbers = ['ShutdownTimeout', 'StartupTimeout'];
  const flags = ['ServicesStartConcurrently', 'ServicesStopConcurrently'];
  for (const key of [...numbers, ...flags, 'BackgroundServiceExceptionBehavior']) {
    const value = configuration.get(`Host:${key}`);
    if (value === undefined) continue;
    const field = key[0]!.toLowerCase() + key.slice(1);
    let parsed: unknown = value;
    if (numbers.includes(key)) parsed = Number(value);
    else if (flags.includes(key)) parsed = value === true || value === 'true';
    if (numbers.includes(key) && !Number.isFinite(parsed)) {
      throw new HostworkError(
        ErrorCodes.CONFIG_INVALID,
        `Host:${key} must be a number of milliseconds, got ${JSON.stringify(value)} (from ${configuration.origin(`Host:${key}`)}).`,
      );
    }
    result[field] = parsed;
  }
  return result as Partial<HostOptions>;
}

/** Creates a {@link HostBuilder}: configuration layers, environment, logging and DI set up with defaults. */
export function createHostBuilder(settings: HostBuilderSettings = {}): HostBuilder {
  return new HostBuilder(settings);
}
