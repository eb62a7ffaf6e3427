import type { HostBuilder } from '../hosting/host-builder.ts';
import { Telemetry, type TelemetryOptions, validateTelemetryOptions } from './telemetry.ts';

/**
 * Configures Hostwork's telemetry (traces and metrics; see docs/telemetry.md). Optional: `addJobs` and `addMessaging`
 * add it with the defaults (tracing when an OpenTelemetry SDK is registered as the host starts, metrics on). Bad
 * options throw HW_UNKNOWN_OPTION or HW_INVALID_OPTION here, before the host is built.
 *
 * @example
 * ```ts
 * addTelemetry(builder, { tracing: false }); // metrics only
 * ```
 */
export function addTelemetry(builder: HostBuilder, options: TelemetryOptions = {}): void {
  validateTelemetryOptions(options);
  builder.services.addSingleton(Telemetry, { factory: () => new Telemetry(options) });
}

/** Registers the default telemetry unless the application configured it (`addJobs` and `addMessaging` call this). */
export function ensureTelemetry(builder: HostBuilder): void {
  if (!builder.services.has(Telemetry))
    builder.services.addSingleton(Telemetry, { factory: () => new Telemetry() });
}
