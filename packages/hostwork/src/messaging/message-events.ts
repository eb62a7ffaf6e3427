import { TypedEvents } from '../typed-events.ts';
import type { DeadLetterReason, DeliveryError } from './transport.ts';

/** Fields every message event carries. */
export interface MessageEventBase {
  /** The consumer's name. */
  readonly consumer: string;
  /** The message id. */
  readonly id: string;
  /** The message definition's name, when known (a poison message may have none). */
  readonly type: string | undefined;
  readonly attempt: number;
}

/** The events of a delivery's life, in-process, like the job engine's. Metrics and traces attach here. */
export interface MessageEventMap {
  /** A delivery was taken by a free slot (before its body is read). */
  received: MessageEventBase;
  /** The handler succeeded; the message is being acknowledged. */
  completed: MessageEventBase & { readonly durationMs: number };
  /** The attempt failed and the message comes back after `retryInMs`. */
  failed: MessageEventBase & {
    readonly durationMs: number;
    readonly error: DeliveryError;
    readonly retryInMs: number;
  };
  /** The message goes to the dead-letter destination: its last attempt failed, or it is poison. */
  dead: MessageEventBase & {
    readonly durationMs: number;
    readonly reason: DeadLetterReason;
    readonly error: DeliveryError;
  };
  /** Handed back to the broker uncounted: prefetched but not started at shutdown, or still running at its end. */
  released: MessageEventBase;
}

/** The name of a message event. */
export type MessageEventName = keyof MessageEventMap;

/** The consumers' events, in-process (see {@link MessageEventMap}), on the same hub as `JobEvents`. */
export class MessageEvents extends TypedEvents<MessageEventMap> {
  /** `onListenerError` receives errors thrown by listeners (default: a process warning). */
  constructor(onListenerError?: (error: unknown, event: MessageEventName) => void) {
    super('message', onListenerError);
  }
}
