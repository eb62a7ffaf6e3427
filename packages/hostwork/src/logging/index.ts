export {
  createLoggerFactory,
  type Logger,
  LoggerFactory,
  type LoggingOptions,
  loggingDefaults,
} from './logger-factory.ts';
