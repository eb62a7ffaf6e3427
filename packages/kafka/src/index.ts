/**
 * @hostwork/kafka: the Kafka transport for Hostwork's message consumers and publishers.
 */
export { KafkaDelivery } from './kafka-delivery.ts';
export { KafkaTransport, kafkaTransport } from './kafka-transport.ts';
export type {
  KafkaDestinationOptions,
  KafkaOrdering,
  KafkaSourceOptions,
  KafkaStartFrom,
  KafkaTransportOptions,
} from './kafka-transport-options.ts';
export { ID_HEADER, NOT_BEFORE_HEADER } from './records.ts';
export type { WarningDetails, WarningListener } from './warnings.ts';
