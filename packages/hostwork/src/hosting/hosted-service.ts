/**
 * A service that starts and stops with the host (the counterpart of .NET's IHostedService).
 * Both methods receive an AbortSignal: on `start` it fires when start-up is cancelled or times out;
 * on `stop` it fires when the host's shutdown budget runs out, and after that the host stops waiting.
 */
export interface HostedService {
  start(signal: AbortSignal): void | Promise<void>;
  stop(signal: AbortSignal): void | Promise<void>;
}

/**
 * Optional hooks around start and stop (the counterpart of IHostedLifecycleService). The host calls, in order:
 * every `starting`, every `start`, every `started`; then at shutdown every `stopping`, every `stop`
 * (reverse registration order), every `stopped`.
 */
export interface HostedLifecycleHooks {
  starting?(signal: AbortSignal): void | Promise<void>;
  started?(signal: AbortSignal): void | Promise<void>;
  stopping?(signal: AbortSignal): void | Promise<void>;
  stopped?(signal: AbortSignal): void | Promise<void>;
}

/** A hosted service, possibly with lifecycle hooks. */
export type HostedServiceWithHooks = HostedService & HostedLifecycleHooks;

/** Whether `value` implements {@link HostedService}; used to give a clear error for wrong registrations. */
export function isHostedService(value: unknown): value is HostedServiceWithHooks {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as HostedService).start === 'function' &&
    typeof (value as HostedService).stop === 'function'
  );
}
