/**
 * Where the transport reports trouble it recovers from by itself (a lost connection, a failed fetch, commit or group
 * join, a settle whose partition was revoked). In a host, the consumer engine attaches the host's logger
 * ({@link KafkaTransport.attachLogger}) and each warning is one structured line of category `Hostwork.Kafka`.
 * An application may pass `onWarning` instead (it then receives every warning, in a host too); a transport used
 * outside a host, with no `onWarning`, reports through `process.emitWarning`.
 */
import { type TransportWarningDetails, type TransportWarningListener, TransportWarningRoute } from 'hostwork';

/**
 * The fields of a warning, for structured logs: `warning` names its kind:
 * `connection-lost`, `reconnected`, `commit-failed`, `join-failed`, `partitions-revoked` (handlers still running
 * past the drain bound), `close-timeout`.
 */
export type WarningDetails = TransportWarningDetails;

/** Receives a warning: a full sentence, the error behind it when there is one, and its fields. */
export type WarningListener = TransportWarningListener;

/** Routes this transport's warnings (see {@link TransportWarningRoute}); outside a host, as 'HostworkKafkaWarning'. */
export class WarningRoute extends TransportWarningRoute {
  constructor(given: WarningListener | undefined) {
    super(given, 'HostworkKafkaWarning');
  }
}
