/**
 * Between Hostwork's messages and the SDK's: the body as bytes (a data section), the headers as application
 * properties (strings), the id as `messageId`, the ordering key as `sessionId`.
 */
import type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
import type { Headers, OutgoingMessage } from 'hostwork';
import { ID_HEADER, RETRY_FOR_HEADER } from './header-names.ts';

/** The longest `messageId` Service Bus takes. */
const MAX_MESSAGE_ID = 128;

/** The SDK message for a Hostwork message. */
export function toServiceBusMessage(message: OutgoingMessage): ServiceBusMessage {
  return {
    body: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
    messageId: message.id,
    applicationProperties: { ...message.headers },
    ...(message.key !== undefined ? { sessionId: message.key } : {}),
  };
}

/** A received message's body as bytes, whatever the sender put in it (bytes, a string, a value). */
export function bodyBytes(message: ServiceBusReceivedMessage): Uint8Array {
  const body: unknown = message.body;
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body === undefined || body === null) return new Uint8Array(0);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** A received message's application properties as headers (strings), without Hostwork's routing properties. */
export function readHeaders(message: ServiceBusReceivedMessage): Headers {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.applicationProperties ?? {})) {
    if (key === ID_HEADER || key === RETRY_FOR_HEADER || value === null || value === undefined) continue;
    headers[key] = value instanceof Date ? value.toISOString() : String(value);
  }
  return headers;
}

/** The Hostwork id of a received message: its `hostwork-id` property, else its `messageId`, else its sequence number. */
export function messageIdOf(message: ServiceBusReceivedMessage): string {
  const own = message.applicationProperties?.[ID_HEADER];
  if (typeof own === 'string' && own !== '') return own;
  if (message.messageId !== undefined && message.messageId !== null) return String(message.messageId);
  return `sequence-${String(message.sequenceNumber)}`;
}

/** A copy's `messageId`: distinct from the original's (duplicate detection), within the service's limit. */
export function copyMessageId(id: string, suffix: string): string {
  const whole = `${id}~${suffix}`;
  return whole.length <= MAX_MESSAGE_ID
    ? whole
    : `${whole.slice(0, MAX_MESSAGE_ID - suffix.length - 1)}~${suffix}`;
}
