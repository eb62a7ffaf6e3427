/**
 * Where the transport reports trouble it recovers from by itself (a lost connection or channel, a reconnect attempt
 * that failed, a settle call on a channel that has died). In a host, the consumer engine attaches the host's logger
 * ({@link RabbitmqTransport.attachLogger}) and each warning is one structured line of category `Hostwork.RabbitMQ`.
 * An application may pass `onWarning` instead (it then receives every warning, in a host too); a transport used
 * outside a host, with no `onWarning`, reports through `process.emitWarning`.
 */
import { type TransportWarningDetails, type TransportWarningListener, TransportWarningRoute } from 'hostwork';

/**
 * The fields of a warning, for structured logs: `warning` names its kind:
 * `connection-lost`, `reconnect-failed`, `reconnected`, `channel-lost` (a subscription's channel),
 * `settle-after-channel-loss`, `resubscribe-failed`, `close-timeout`, `redelivery-uncounted` (a classic-queue
 * redelivery whose counted copy could not be published).
 */
export type WarningDetails = TransportWarningDetails;

/** Receives a warning: a full sentence, the error behind it when there is one, and its fields. */
export type WarningListener = TransportWarningListener;

/** Routes this transport's warnings (see {@link TransportWarningRoute}); outside a host, as 'HostworkRabbitmqWarning'. */
export class WarningRoute extends TransportWarningRoute {
  constructor(given: WarningListener | undefined) {
    super(given, 'HostworkRabbitmqWarning');
  }
}
