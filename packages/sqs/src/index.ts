/**
 * @hostwork/sqs: the AWS SQS transport for Hostwork's message consumers and publishers.
 */
export {
  BODY_ATTRIBUTE,
  ID_ATTRIBUTE,
  NOT_BEFORE_ATTRIBUTE,
  PACKED_ATTRIBUTE,
} from './attributes.ts';
export { SqsTransport, sqsTransport } from './sqs-transport.ts';
export type {
  SqsCredentials,
  SqsSourceOptions,
  SqsTransportOptions,
  TransportLogger,
} from './sqs-transport-options.ts';
