/**
 * Where the transport reports trouble it recovers from by itself (a lost link, a receive error the SDK retries) and
 * what it cannot fix alone (a lock lost before a settle, a close that hung). In a host, the consumer engine attaches
 * the host's logger ({@link AzureServiceBusTransport.attachLogger}) and each warning is one structured line of
 * category `Hostwork.AzureServiceBus`. An application may pass `onWarning` instead (it then receives every warning, in
 * a host too); a transport used outside a host, with no `onWarning`, reports through `process.emitWarning`.
 */
import { type TransportWarningDetails, type TransportWarningListener, TransportWarningRoute } from 'hostwork';

/**
 * The fields of a warning, for structured logs: `warning` names its kind:
 * `receive-error`, `lock-lost`, `release-failed`, `foreign-retry-failed`, `close-failed`, `close-timeout`.
 */
export type WarningDetails = TransportWarningDetails;

/** Receives a warning: a full sentence, the error behind it when there is one, and its fields. */
export type WarningListener = TransportWarningListener;

/** Routes this transport's warnings (see {@link TransportWarningRoute}); outside a host, as 'HostworkAzureServiceBusWarning'. */
export class WarningRoute extends TransportWarningRoute {
  constructor(given: WarningListener | undefined) {
    super(given, 'HostworkAzureServiceBusWarning');
  }
}
