/**
 * Layered configuration (defaults in code, JSON files, environment variables, command line) and typed options
 * validated by any Standard Schema.
 * @module
 */
export { type ConfigSection, Configuration } from './configuration.ts';
export { type DefaultConfigSourcesOptions, defaultConfigSources } from './defaults.ts';
export { EnvironmentNames, isDevelopment, resolveEnvironmentName } from './environment.ts';
export {
  bindAllOptions,
  bindOptions,
  defineOptions,
  type OptionsToken,
  type OptionsValues,
} from './options.ts';
export {
  argsSource,
  type ConfigEntry,
  type ConfigSource,
  type EnvSourceOptions,
  envSource,
  type JsonFileSourceOptions,
  jsonFileSource,
  KEY_SEPARATOR,
  objectSource,
} from './source.ts';
