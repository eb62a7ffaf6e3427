import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import type { HealthCheckResult } from '../health/health-check.ts';
import type { HealthChecks } from '../health/health-checks.ts';
import { MessageConsumers } from './message-consumers.ts';

/** The thresholds of the consumers' health checks (`addMessaging({ health })`). */
export interface MessagingHealthOptions {
  /** More messages than this wait for a consumer: its `consumer-lag:<consumer>` check is degraded. Default 1,000. */
  readonly maxLag?: number;
  /**
   * The oldest message waiting for a consumer has waited longer than this, in ms: degraded (only where the broker
   * reports the age: the in-memory transport, Redis Streams). Default 300,000 (5 min), as the jobs' `maxDueAgeMs`.
   */
  readonly maxLagAgeMs?: number;
}

const KEYS = ['maxLag', 'maxLagAgeMs'] as const;
/** The defaults of {@link MessagingHealthOptions}, in one place. */
export const messagingHealthDefaults = { maxLag: 1_000, maxLagAgeMs: 300_000 } as const;

/** The resolved thresholds. */
interface LagThresholds {
  readonly maxLag: number;
  readonly maxLagAgeMs: number;
}

/** Checks `addMessaging({ health })` before anything is registered. */
export function resolveMessagingHealth(options: MessagingHealthOptions | undefined): LagThresholds {
  const given = options ?? {};
  if (typeof given !== 'object' || given === null)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addMessaging(): health must be an object of thresholds ({ maxLag, maxLagAgeMs }), got ${JSON.stringify(options)}.`,
    );
  assertKnownKeys('addMessaging() health', given, KEYS);
  const maxLag = given.maxLag ?? messagingHealthDefaults.maxLag;
  if (typeof maxLag !== 'number' || !Number.isInteger(maxLag) || maxLag < 0)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addMessaging() health.maxLag must be a whole number of messages >= 0, got ${JSON.stringify(given.maxLag)}.`,
    );
  const maxLagAgeMs = given.maxLagAgeMs ?? messagingHealthDefaults.maxLagAgeMs;
  if (typeof maxLagAgeMs !== 'number' || !Number.isFinite(maxLagAgeMs) || maxLagAgeMs <= 0)
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `addMessaging() health.maxLagAgeMs must be a positive number of ms, got ${JSON.stringify(given.maxLagAgeMs)}.`,
    );
  return { maxLag, maxLagAgeMs };
}

/**
 * Registers the consumers' checks:
 * - `consumers` (ready): every consumer's subscription has its broker connection (a consumer reconnecting takes no
 *   messages; it reconnects by itself, so no restart);
 * - `consumer-lag:<consumer>` (tag `backlog`, in no probe), one per consumer: the messages waiting for it in the
 *   broker, as its transport reports them; degraded past `maxLag` (or, where the broker tells the age, past
 *   `maxLagAgeMs`), never unhealthy, even when the broker cannot be asked (a lag needs more consumers, not a
 *   restart; readiness reports a lost broker).
 */
export function addConsumerHealthChecks(
  checks: HealthChecks,
  consumers: readonly string[],
  thresholds: LagThresholds,
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
  for (const consumer of consumers) {
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
