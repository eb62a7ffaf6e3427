export { addMessaging, type MessagingSetup, type OutboxSettings } from './add-messaging.ts';
export {
  deadLetterHeaders,
  deliveryAttempt,
  deliveryError,
  historyHeader,
  MAX_HEADER_ERROR_CHARS,
  MAX_HISTORY_BYTES,
  readAttemptErrors,
  retryHeaders,
} from './attempt-history.ts';
export {
  type ConsumerDefinition,
  type ConsumerDefinitionInput,
  type ConsumerHealthOptions,
  defaultMaxRedeliveries,
  defineConsumer,
  type InboxOptions,
  type MessageContext,
  type MessageHandler,
  type MessageOutput,
} from './consumer-definition.ts';
export { type MessagingHealthOptions, messagingHealthDefaults } from './consumer-health-checks.ts';
export {
  InMemoryBroker,
  type InMemoryDeadLetter,
  type InMemoryMessage,
  type InMemoryQueueDepth,
  InMemoryTransport,
  type InMemoryTransportOptions,
  inMemoryTransport,
} from './in-memory-transport.ts';
export { type InboxStore, isInboxStore, type RecordInboxOptions } from './inbox-store.ts';
export type { LagThresholdOptions } from './lag-thresholds.ts';
export { MessageConsumers } from './message-consumers.ts';
export { defineMessage, type MessageDefinition, type MessageDefinitionInput } from './message-definition.ts';
export {
  type MessageEventBase,
  type MessageEventMap,
  type MessageEventName,
  MessageEvents,
} from './message-events.ts';
export { MessagePublisher, type SendItem, type SendOptions } from './message-publisher.ts';
export { MessagingOptions } from './messaging-options.ts';
export { MessagingTransports, type TransportEntry } from './messaging-transports.ts';
export { OutboxRelay, type OutboxRelayEnvironment, type OutboxRelaySettings } from './outbox-relay.ts';
export {
  type AppendOutboxOptions,
  type ClaimedOutboxMessage,
  isOutboxStore,
  type OutboxMessage,
  type OutboxStore,
} from './outbox-store.ts';
export * from './transport.ts';
export {
  type TransportWarningDetails,
  type TransportWarningListener,
  TransportWarningRoute,
} from './transport-warnings.ts';
