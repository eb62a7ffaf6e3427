import { createToken } from '../di/token.ts';
import type { ConsumerDefinition } from './consumer-definition.ts';

/** What `addMessaging` resolved for the consumers' hosted service. */
export interface MessagingOptions {
  // biome-ignore lint/suspicious/noExplicitAny: consumers of every message type live in one list.
  readonly consumers: readonly ConsumerDefinition<any>[];
  /** How long a handler ignoring its aborted signal (timeout) is waited for before its slot is freed. */
  readonly abortGraceMs: number;
}

/** The key of the resolved {@link MessagingOptions}. */
export const MessagingOptions = createToken<MessagingOptions>('MessagingOptions');
