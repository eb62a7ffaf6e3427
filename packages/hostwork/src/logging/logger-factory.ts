import { createRequire } from 'node:module';
import type { DestinationStream, Level, Logger as PinoLogger } from 'pino';
import { pino } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { createToken } from '../di/token.ts';
import { ErrorCodes, HostworkError } from '../errors.ts';

/**
 * pino-pretty (and its dependencies, a few MB of memory) is loaded only when pretty lines are asked for: Production
 * processes, which log JSON, never load it. It is CommonJS, so `require` keeps the factory synchronous.
 */
function pretty(options: PrettyOptions): DestinationStream {
  const load = createRequire(import.meta.url);
  return (load('pino-pretty') as typeof import('pino-pretty')).build(options);
}

/** A structured logger (pino's). Call `.child({ ... })` to carry context such as a job id. */
export type Logger = PinoLogger;

/** Options of {@link createLoggerFactory}. Defaults are stated in {@link loggingDefaults}. */
export interface LoggingOptions {
  /** Minimum level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'. */
  readonly level?: Level | 'silent';
  /** Human-readable lines (Development) instead of one JSON object per line (Production). */
  readonly pretty?: boolean;
  /** Where lines go. Default: standard output, written synchronously so nothing is lost at exit. */
  readonly destination?: DestinationStream;
  /**
   * The application's own pino logger: every category logger derives from it (`logger.child({ category })`), so
   * Hostwork's lines carry its base bindings, level, serializers and destination. With it, `level`, `pretty`,
   * `destination` and the `Logging` configuration section are not used.
   */
  readonly logger?: Logger;
}

/** The defaults for an environment: pretty debug logs in Development, JSON info logs elsewhere. */
export function loggingDefaults(
  development: boolean,
): Required<Omit<LoggingOptions, 'destination' | 'logger'>> {
  return development ? { level: 'debug', pretty: true } : { level: 'info', pretty: false };
}

/** Creates loggers per category, all writing to one destination. */
export interface LoggerFactory {
  /** The logger every category logger derives from. */
  readonly root: Logger;
  /** A logger whose lines carry `category` (e.g. the class name), plus any extra bindings. */
  create(category: string, bindings?: Record<string, unknown>): Logger;
}

/**
 * The key of the {@link LoggerFactory}. The host registers one built from its logging settings and configuration,
 * unless the application registered its own before `build()`: the application's registration wins.
 */
export const LoggerFactory = createToken<LoggerFactory>('LoggerFactory');

/**
 * Builds a {@link LoggerFactory} on pino: on the application's own logger when `options.logger` is given, else on
 * one it creates.
 *
 * @example
 * ```ts
 * const builder = createHostBuilder({ logging: { logger: pino({ base: { app: 'billing' } }) } });
 * // or, equally, a registration of the application's (it replaces the host's):
 * builder.services.addSingleton(LoggerFactory, { value: createLoggerFactory({ logger: appLogger }) });
 * ```
 */
export function createLoggerFactory(options: LoggingOptions = {}): LoggerFactory {
  if (options.logger !== undefined) return factoryOn(options.logger);
  const level = options.level ?? 'info';
  const destination =
    options.destination ??
    (options.pretty
      ? pretty({
          sync: true,
          colorize: process.stdout.isTTY ?? false,
          singleLine: true,
          ignore: 'pid,hostname,category',
          messageFormat: '{if category}[{category}] {end}{msg}',
          translateTime: 'HH:MM:ss.l',
        })
      : pino.destination({ dest: 1, sync: true }));
  return factoryOn(pino({ level, base: { pid: process.pid } }, destination));
}

/** Category loggers as children of `root`. */
function factoryOn(root: Logger): LoggerFactory {
  if (typeof root?.child !== 'function' || typeof root.info !== 'function') {
    throw new HostworkError(ErrorCodes.INVALID_OPTION, 'logging.logger must be a pino logger (pino(...)).');
  }
  return {
    root,
    create: (category, bindings) => root.child({ category, ...bindings }),
  };
}
