/**
 * The options of {@link azureServiceBusTransport} and of each source and destination (`Destination.options`), checked
 * once with Hostwork's option errors (HW_UNKNOWN_OPTION for a misspelt key, HW_INVALID_OPTION for a bad value).
 *
 * A Destination's `name` is a queue or a topic. A source with a `subscription` receives from that subscription of
 * the topic; without one, from the queue. Hostwork does not create entities: Service Bus creates them through its
 * management API (the portal, Bicep, Terraform, `ServiceBusAdministrationClient`), and the adapter reports one that is
 * missing with HW_MESSAGE_SOURCE_MISSING.
 */
import type { NamedKeyCredential, SASCredential, TokenCredential } from '@azure/core-auth';
import { assertKnownKeys, ErrorCodes, HostworkError } from 'hostwork';
import type { WarningListener } from './warnings.ts';

/** What {@link azureServiceBusTransport} takes: a connection string, or a namespace with a credential. */
export interface AzureServiceBusTransportOptions {
  /**
   * A namespace's connection string (`Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;
   * SharedAccessKey=...`). With `UseDevelopmentEmulator=true` the client speaks plain AMQP to the endpoint's host and
   * port (the emulator, or a local stand-in). Give this, or `fullyQualifiedNamespace` and `credential`.
   */
  readonly connectionString?: string;
  /** The namespace's host name (`<namespace>.servicebus.windows.net`), with {@link credential}. */
  readonly fullyQualifiedNamespace?: string;
  /** A Microsoft Entra credential (`@azure/identity`), or a named key or SAS credential, with the namespace. */
  readonly credential?: TokenCredential | NamedKeyCredential | SASCredential;
  /**
   * How long a received message stays locked, in ms: the entity's `LockDuration`, which the client cannot read over
   * AMQP. The engine renews the lock before it runs out while the handler runs. Default: what the service reports
   * with each message (its locked-until time), which assumes this machine's clock is close to the service's.
   */
  readonly lockDurationMs?: number;
  /** How long one operation (send, settle, lock renewal, management request) may take, in ms. Default 30000. */
  readonly operationTimeoutMs?: number;
  /** How many times the client tries an operation again after a transient error. Default 5. */
  readonly maxRetries?: number;
  /** The first wait before trying again, in ms, doubling up to {@link maxRetryDelayMs}. Default 200. */
  readonly retryDelayMs?: number;
  /** The longest wait between tries, in ms. Default 5000. */
  readonly maxRetryDelayMs?: number;
  /**
   * How long `close()` waits for pending settles and publishes and for the client's own close, in ms, before it gives
   * up with a warning (the SDK's close is known to hang on a dead connection). Default 10000.
   */
  readonly closeTimeoutMs?: number;
  /** Receives the transport's warnings instead of the host's logger (see {@link WarningListener}). */
  readonly onWarning?: WarningListener;
  /**
   * Where `lag()` sends its management requests (the namespace's HTTP management API, through
   * `ServiceBusAdministrationClient`): an origin such as `https://<namespace>.servicebus.windows.net` or, for the
   * emulator, `http://localhost:5300`. Default: the namespace over HTTPS; with `UseDevelopmentEmulator=true` in the
   * connection string, `http://<the endpoint's host>:5300` (the emulator's management port). Plain `http:` only with
   * `UseDevelopmentEmulator=true`: a request carries a token signed with the namespace's key.
   */
  readonly managementEndpoint?: string;
}

/** `Destination.options` of a source given to `subscribe` (and of a destination given to `publish`). */
export interface AzureServiceBusSourceOptions {
  /** The subscription of the topic `name` to receive from. Without it, `name` is a queue. Not for publishing. */
  readonly subscription?: string;
  /** This source's lock duration in ms (see the transport's `lockDurationMs`). */
  readonly lockDurationMs?: number;
  /**
   * The entity requires sessions: receive session by session, each session's messages in order, up to the prefetch
   * sessions side by side. Default false.
   */
  readonly sessions?: boolean;
  /** With `sessions`: how long a session may hand nothing over before it is released for the next, in ms. Default 5000. */
  readonly sessionIdleTimeoutMs?: number;
}

/** The options with their defaults applied. */
export interface ResolvedOptions {
  readonly connectionString: string | undefined;
  readonly fullyQualifiedNamespace: string | undefined;
  readonly credential: TokenCredential | NamedKeyCredential | SASCredential | undefined;
  readonly lockDurationMs: number | undefined;
  readonly operationTimeoutMs: number;
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly closeTimeoutMs: number;
  readonly onWarning: WarningListener | undefined;
  /** The origin management requests go to instead of the SDK's `https://<namespace>`, or undefined for that. */
  readonly managementEndpoint: string | undefined;
}

/** A source or destination with its defaults applied. */
export interface ResolvedSource {
  /** The queue or topic. */
  readonly entity: string;
  readonly subscription: string | undefined;
  /** What is received from: the queue, or `<topic>/Subscriptions/<subscription>`. */
  readonly path: string;
  readonly lockDurationMs: number | undefined;
  readonly sessions: boolean;
  readonly sessionIdleTimeoutMs: number;
}

const KNOWN = [
  'connectionString',
  'fullyQualifiedNamespace',
  'credential',
  'lockDurationMs',
  'operationTimeoutMs',
  'maxRetries',
  'retryDelayMs',
  'maxRetryDelayMs',
  'closeTimeoutMs',
  'onWarning',
  'managementEndpoint',
];
const SOURCE_KNOWN = ['subscription', 'lockDurationMs', 'sessions', 'sessionIdleTimeoutMs'];
const WHERE = 'azureServiceBusTransport';

function invalid(problem: string): HostworkError {
  return new HostworkError(ErrorCodes.INVALID_OPTION, `${WHERE}: ${problem}.`);
}

function wholeNumber(key: string, value: unknown, fallback: number, min = 1, unit = 'ms'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw invalid(
      `'${key}' must be a whole number${unit ? ` of ${unit}` : ''} >= ${min}, got ${JSON.stringify(value)}`,
    );
  return value;
}

/** An entity name as Service Bus allows it: letters, digits, `.`, `-`, `_`, `/`, up to 260 characters. */
function entityName(where: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    value === '' ||
    value.length > 260 ||
    !/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/.test(value) ||
    value.endsWith('/') ||
    /\/\//.test(value)
  )
    throw invalid(
      `${where} must be a Service Bus entity name (letters, digits, '.', '-', '_', '/'; starting with a letter or digit; up to 260 characters), got ${JSON.stringify(value)}`,
    );
  return value;
}

/** The emulator's management port (HTTP), where it answers the administration client. */
export const EMULATOR_MANAGEMENT_PORT = 5300;

/** Whether a connection string targets the development emulator (`UseDevelopmentEmulator=true`). */
function usesEmulator(connectionString: string | undefined): boolean {
  return (
    connectionString !== undefined &&
    /(^|;)\s*UseDevelopmentEmulator\s*=\s*true\s*(;|$)/i.test(connectionString)
  );
}

/** The host of a connection string's `Endpoint=sb://<host>[:port]/`. */
function endpointHost(connectionString: string): string {
  const match = /(?:^|;)\s*Endpoint\s*=\s*sb:\/\/(\[[^\]]+\]|[^;/:]+)/i.exec(connectionString);
  return match?.[1] ?? 'localhost';
}

/** Checks `managementEndpoint` (an http(s) origin; http only for the emulator) or derives the emulator's default. */
function resolveManagementEndpoint(given: unknown, connectionString: string | undefined): string | undefined {
  const emulator = usesEmulator(connectionString);
  if (given === undefined)
    return emulator
      ? `http://${endpointHost(connectionString as string)}:${EMULATOR_MANAGEMENT_PORT}`
      : undefined;
  let url: URL | undefined;
  try {
    url = typeof given === 'string' ? new URL(given) : undefined;
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== '' ||
    url.password !== ''
  )
    throw invalid(
      `'managementEndpoint' must be an http(s) origin such as 'https://<namespace>.servicebus.windows.net' or 'http://localhost:5300', without a path, got ${JSON.stringify(given)}`,
    );
  if (url.protocol === 'http:' && !emulator)
    throw invalid(
      `'managementEndpoint' may use plain http only with the development emulator (a connection string with UseDevelopmentEmulator=true): its requests carry a token signed with the namespace's key; got ${JSON.stringify(given)}`,
    );
  return url.origin;
}

/** Checks the transport's options and applies the defaults. */
export function resolveOptions(options: AzureServiceBusTransportOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalid('the options must be an object');
  assertKnownKeys('the azureServiceBusTransport options', options, KNOWN);
  const { connectionString, fullyQualifiedNamespace, credential } = options;
  if (connectionString !== undefined) {
    if (
      typeof connectionString !== 'string' ||
      !/(^|;)\s*Endpoint\s*=\s*sb:\/\/[^;]+/i.test(connectionString)
    )
      throw invalid(
        "'connectionString' must be a Service Bus connection string ('Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...'); copy it from the namespace's Shared access policies",
      );
    if (fullyQualifiedNamespace !== undefined || credential !== undefined)
      throw invalid(
        "give either 'connectionString', or 'fullyQualifiedNamespace' with 'credential', not both",
      );
  } else {
    if (
      typeof fullyQualifiedNamespace !== 'string' ||
      fullyQualifiedNamespace === '' ||
      credential === undefined
    )
      throw invalid(
        "give 'connectionString', or 'fullyQualifiedNamespace' ('<namespace>.servicebus.windows.net') with 'credential' (e.g. new DefaultAzureCredential() from @azure/identity)",
      );
    if (typeof credential !== 'object' || credential === null)
      throw invalid("'credential' must be a TokenCredential, a NamedKeyCredential or a SASCredential");
  }
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function')
    throw invalid("'onWarning' must be a function");
  const retryDelayMs = wholeNumber('retryDelayMs', options.retryDelayMs, 200);
  const maxRetryDelayMs = wholeNumber('maxRetryDelayMs', options.maxRetryDelayMs, 5_000);
  if (maxRetryDelayMs < retryDelayMs)
    throw invalid(`'maxRetryDelayMs' (${maxRetryDelayMs}) must be at least 'retryDelayMs' (${retryDelayMs})`);
  return {
    connectionString,
    fullyQualifiedNamespace,
    credential,
    lockDurationMs:
      options.lockDurationMs === undefined
        ? undefined
        : wholeNumber('lockDurationMs', options.lockDurationMs, 0, 1_000),
    operationTimeoutMs: wholeNumber('operationTimeoutMs', options.operationTimeoutMs, 30_000, 1_000),
    maxRetries: wholeNumber('maxRetries', options.maxRetries, 5, 0, ''),
    retryDelayMs,
    maxRetryDelayMs,
    closeTimeoutMs: wholeNumber('closeTimeoutMs', options.closeTimeoutMs, 10_000),
    onWarning: options.onWarning,
    managementEndpoint: resolveManagementEndpoint(options.managementEndpoint, connectionString),
  };
}

/** Checks a source's (or a destination's) name and options and applies the transport's defaults. */
export function resolveSource(
  name: string,
  given: Readonly<Record<string, unknown>> | undefined,
  defaults: ResolvedOptions,
  what: 'source' | 'destination' = 'source',
): ResolvedSource {
  const entity = entityName(`a ${what}'s name`, name);
  const options = (given ?? {}) as AzureServiceBusSourceOptions;
  if (typeof options !== 'object' || options === null)
    throw invalid(`the options of the Service Bus ${what} '${entity}' must be an object`);
  assertKnownKeys(`the options of the Service Bus ${what} '${entity}'`, options, SOURCE_KNOWN);
  const where = `${what} '${entity}'`;
  let subscription: string | undefined;
  if (options.subscription !== undefined) {
    if (what === 'destination')
      throw invalid(
        `${where}: 'subscription' is for receiving; publish to the topic '${entity}' and every subscription gets a copy`,
      );
    subscription = entityName(`${where}: 'subscription'`, options.subscription);
    if (subscription.includes('/'))
      throw invalid(`${where}: 'subscription' must not contain '/', got ${JSON.stringify(subscription)}`);
  }
  if (options.sessions !== undefined && typeof options.sessions !== 'boolean')
    throw invalid(`${where}: 'sessions' must be true or false, got ${JSON.stringify(options.sessions)}`);
  return {
    entity,
    subscription,
    sessions: options.sessions ?? false,
    sessionIdleTimeoutMs: wholeNumber(`${where}: sessionIdleTimeoutMs`, options.sessionIdleTimeoutMs, 5_000),
    path: subscription === undefined ? entity : `${entity}/Subscriptions/${subscription}`,
    lockDurationMs:
      options.lockDurationMs === undefined
        ? defaults.lockDurationMs
        : wholeNumber(`${where}: lockDurationMs`, options.lockDurationMs, 0, 1_000),
  };
}
