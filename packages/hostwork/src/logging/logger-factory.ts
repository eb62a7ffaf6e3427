import { createRequire } from 'node:module';
import type { DestinationStream, Level, Logger as PinoLogger } from 'pino';
import { pino } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { createToken } from '../di/token.ts';

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
}

/** The defaults for an environment: pretty debug logs in Development, JSON info logs elsewhere. */
export function loggingDefaults(development: boolean): Required<Omit<LoggingOptions, 'destination'>> {
  return development ? { level: 'debug', pretty: true } : { level: 'info', pretty: false };
}

/** Creates loggers per category, all writing to one destination. */
export interface LoggerFactory {
  /** The logger every category logger derives from. */
  readonly root: Logger;
  /** A logger whose lines carry `category` (e.g. the class name), plus any extra bindings. */
  create(category: string, bindings?: Record<string, unknown>): Logger;
}

/** The key of the {@link LoggerFactory}; the host registers one built from configuration. */
export const LoggerFactory = createToken<LoggerFactory>('LoggerFactory');

/** Builds a {@link LoggerFactory} on pino. */
export function createLoggerFactory(options: LoggingOptions = {}): LoggerFactory {
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
  const root = pino({ level, base: { pid: process.pid } }, destination);
  return {
    root,
    create: (category, bindings) => root.child({ category, ...bindings }),
  };
}
