export {
  addHealthEndpoint,
  type HealthEndpointSetup,
  healthEndpointDefaults,
} from './add-health-endpoint.ts';
export { type EventLoopThresholds, eventLoopCheck, hostCheck } from './built-in-checks.ts';
export type {
  HealthCheck,
  HealthCheckContext,
  HealthCheckOptions,
  HealthCheckRegistration,
  HealthCheckResult,
  HealthReport,
  HealthReportEntry,
  HealthStatus,
  ProbeTag,
} from './health-check.ts';
export { type HealthCheckFilter, HealthCheckService } from './health-check-service.ts';
export { addHealthCheck, DEFAULT_CHECK_TIMEOUT_MS, HealthChecks, healthChecksOf } from './health-checks.ts';
export { HealthEndpoint, type HealthEndpointOptions, type HealthResponse } from './health-endpoint.ts';
export { HealthServer, type HealthServerAddress, type MountedHandler } from './health-server.ts';
export {
  addSystemdNotify,
  type NotifySender,
  SystemdNotifier,
  systemdNotifySender,
} from './systemd-notifier.ts';
