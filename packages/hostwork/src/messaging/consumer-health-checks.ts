import type { HealthCheckResult } from '../health/health-check.ts';
import type { HealthChecks } from '../health/health-checks.ts';
import {
  type LagThresholdOptions,
  type LagThresholds,
  resolveLagThresholds,
  validateLagThresholds,
} from './lag-thresholds.ts';
import { MessageConsumers } from './message-consumers.ts';

export { messagingHealthDefaults } from './lag-thresholds.ts';

/**
 * The thresholds of every consumer's `consumer-lag:<consumer>` health check (`addMessaging({ health })`); a consumer's
 * own `defineConsumer({ health })` wins over them, key by key.
 */
export type MessagingHealthOptions = LagThresholdOptions;

/** Checks `addMessaging({ health })` before anything is registered; returns the thresholds given. */
export function resolveMessagingHealth(options: MessagingHealthOptions | undefined): LagThresholdOptions {
  return validateLagThresholds(options, 'addMessaging() health');
}

/**
 * Registers the consumers' checks:
 * - `consumers` (ready): every consumer's subscription has its broker connection (a consumer reconnecting takes no
 *   messages; it reconnects by itself, so no restart);
 * - `consumer-lag:<consumer>` (tag `backlog`, in no probe), one per consumer: the messages waiting for it in the
 *   broker, as its transport reports them; degraded past `maxLag` (or, where the broker tells the age, past
 *   `maxLagAgeMs`), the consumer's own thresholds first, then `shared` (addMessaging's), then the defaults; never unhealthy, even when the broker cannot be asked (a lag needs more consumers, not a
 *   restart; readiness reports a lost broker).
 */
export function addConsumerHealthChecks(
  checks: HealthChecks,
  consumers: readonly { readonly name: string; readonly health?: LagThresholdOptions }[],
  shared: LagThresholdOptions,
): void {
  checks.add(
    'consumers',
    ({ services }) => {
      const connections = services.get(MessageConsumers).connections;
      const now = Date.now();
      const down = connections.filter((c) => !c.connected);
      const data = Object.fromEntries(
        connections.map((c) => [
          c.consumer,
          {
            transport: c.transport,
            connected: c.connected,
            ...(c.since === undefined ? {} : { disconnectedMs: now - c.since }),
            ...(c.error === undefined ? {} : { error: c.error }),
          },
        ]),
      );
      if (down.length > 0)
        return {
          status: 'unhealthy',
          description: `Not connected to the broker: ${down.map((c) => `'${c.consumer}' (${c.transport})`).join(', ')}`,
          data,
        };
      return { status: 'healthy', data };
    },
    { tags: ['ready'] },
  );
  for (const { name: consumer, health } of consumers) {
    // Resolved once, at registration: the consumer's own, else addMessaging's, else the defaults.
    const thresholds = resolveLagThresholds(health, shared);
    checks.add(
      `consumer-lag:${consumer}`,
      async ({ services }) =>
        lagHealth(consumer, await services.get(MessageConsumers).lag(consumer), thresholds),
      { tags: ['backlog'], failureStatus: 'degraded' },
    );
  }
}

/** The `consumer-lag:<consumer>` verdict on what {@link MessageConsumers.lag} read. */
function lagHealth(
  consumer: string,
  read: Awaited<ReturnType<MessageConsumers['lag']>>,
  { maxLag, maxLagAgeMs }: LagThresholds,
): HealthCheckResult {
  if (!read.running)
    return { status: 'healthy', description: `Consumer '${consumer}' is not running`, data: { maxLag } };
  const lag = read.lag;
  if (lag === undefined)
    return {
      status: 'healthy',
      description: `Transport '${read.transport}' does not report a lag for consumer '${consumer}'`,
      data: { transport: read.transport, maxLag },
    };
  const data = {
    transport: read.transport,
    lag: lag.messages,
    maxLag,
    ...(lag.oldestAgeMs === undefined ? {} : { oldestAgeMs: lag.oldestAgeMs, maxLagAgeMs }),
  };
  if (lag.messages > maxLag)
    return {
      status: 'degraded',
      description: `${lag.messages} messages wait for consumer '${consumer}' (more than ${maxLag})`,
      data,
    };
  if (lag.oldestAgeMs !== undefined && lag.oldestAgeMs > maxLagAgeMs)
    return {
      status: 'degraded',
      description: `The oldest message waiting for consumer '${consumer}' has waited ${lag.oldestAgeMs} ms (longer than ${maxLagAgeMs} ms)`,
      data,
    };
  return { status: 'healthy', data };
}
