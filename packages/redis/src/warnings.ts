/**
 * Where the transport reports trouble it recovers from by itself (a lost connection, a reconnect attempt that failed,
 * a settle call that found its entry taken over by another consumer). In a host, the consumer engine attaches the host's logger
 * ({@link RedisTransport.attachLogger}) and each warning is one structured line of category `Hostwork.Redis`.
 * An application may pass `onWarning` instead (it then receives every warning, in a host too); a transport used
 * outside a host, with no `onWarning`, reports through `process.emitWarning`.
 */
import { type TransportWarningDetails, type TransportWarningListener, TransportWarningRoute } from 'hostwork';

/**
 * The fields of a warning, for structured logs: `warning` names its kind:
 * `connection-lost`, `reconnect-failed`, `reconnected`, `read-failed` (a subscription's read), `group-recreated`,
 * `attempt-lost` (entries claimed from a consumer that held them past their lease: an attempt counted as failed),
 * `lease-lost` (a settle or extend found the entry claimed by another consumer), `send-retried` (a settle or publish
 * sent again after a lost connection), `on-delivery-threw`, `eviction-policy`, `close-timeout`.
 */
export type WarningDetails = TransportWarningDetails;

/** Receives a warning: a full sentence, the error behind it when there is one, and its fields. */
export type WarningListener = TransportWarningListener;

/** Routes this transport's warnings (see {@link TransportWarningRoute}); outside a host, as 'HostworkRedisWarning'. */
export class WarningRoute extends TransportWarningRoute {
  constructor(given: WarningListener | undefined) {
    super(given, 'HostworkRedisWarning');
  }
}
