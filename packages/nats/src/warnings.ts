/**
 * Where the transport reports trouble it recovers from by itself (a lost connection, a reconnect, a publish sent
 * again, a consumer checked again) and what it cannot fix alone (a consumer near its `max_ack_pending`). In a host, the consumer engine attaches the host's logger
 * ({@link NatsTransport.attachLogger}) and each warning is one structured line of category `Hostwork.NATS`.
 * An application may pass `onWarning` instead (it then receives every warning, in a host too); a transport used
 * outside a host, with no `onWarning`, reports through `process.emitWarning`.
 */
import { type TransportWarningDetails, type TransportWarningListener, TransportWarningRoute } from 'hostwork';

/**
 * The fields of a warning, for structured logs: `warning` names its kind:
 * `connection-lost`, `reconnected`, `connection-error`, `connection-closed`, `reconnect-failed`, `slow-consumer`,
 * `publish-retried`, `resubscribe-failed`, `inbox-failed`, `consumer-deleted`, `pull-ended`,
 * `max-ack-pending-below-prefetch`, `ack-pending-high`, `ack-pending-full`, `close-timeout`.
 */
export type WarningDetails = TransportWarningDetails;

/** Receives a warning: a full sentence, the error behind it when there is one, and its fields. */
export type WarningListener = TransportWarningListener;

/** Routes this transport's warnings (see {@link TransportWarningRoute}); outside a host, as 'HostworkNatsWarning'. */
export class WarningRoute extends TransportWarningRoute {
  constructor(given: WarningListener | undefined) {
    super(given, 'HostworkNatsWarning');
  }
}
