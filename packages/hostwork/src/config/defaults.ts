import { join } from 'node:path';
import { assertKnownKeys } from '../errors.ts';
import { resolveEnvironmentName } from './environment.ts';
import { argsSource, type ConfigSource, envSource, jsonFileSource, objectSource } from './source.ts';

/** Options of {@link defaultConfigSources}. */
export interface DefaultConfigSourcesOptions {
  /** The folder holding `hostwork.json` and `hostwork.<Environment>.json`. */
  readonly contentRoot: string;
  /** Selects `hostwork.<Environment>.json`. Default: {@link resolveEnvironmentName} of `env`. */
  readonly environmentName?: string;
  /** Environment variables. Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Command-line arguments. Default: `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Values in code, overridden by every other source. Default: none. */
  readonly defaults?: Readonly<Record<string, unknown>>;
}

/**
 * The standard layering, weakest first: defaults in code < `hostwork.json` < `hostwork.<Environment>.json`
 * < environment variables < command-line arguments. Both files are optional; the more specific and the
 * more ad hoc a source, the later it comes, so that a deployment can override anything without a rebuild.
 */
export function defaultConfigSources(options: DefaultConfigSourcesOptions): ConfigSource[] {
  assertKnownKeys('defaultConfigSources() options', options, [
    'contentRoot',
    'environmentName',
    'env',
    'args',
    'defaults',
  ]);
  const env = options.env ?? process.env;
  const environmentName = options.environmentName ?? resolveEnvironmentName(env);
  return [
    objectSource(options.defaults ?? {}),
    jsonFileSource(join(options.contentRoot, 'hostwork.json'), { optional: true }),
    jsonFileSource(join(options.contentRoot, `hostwork.${environmentName}.json`), { optional: true }),
    envSource(env),
    argsSource(options.args ?? process.argv.slice(2)),
  ];
}
