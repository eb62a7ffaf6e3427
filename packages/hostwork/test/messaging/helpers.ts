/**
 * Shared pieces of the messaging tests: real hosts with `addMessaging` on an in-memory transport, captured logs,
 * recorded events, and waits on conditions (never fixed sleeps for correctness).
 */
import { after } from 'node:test';
import { createHostBuilder, type Host, type HostBuilder } from '../../src/hosting/index.ts';
import { addMessaging, type MessagingSetup } from '../../src/messaging/add-messaging.ts';
import type { InMemoryDeadLetter } from '../../src/messaging/in-memory-transport.ts';
import {
  type MessageEventMap,
  type MessageEventName,
  MessageEvents,
} from '../../src/messaging/message-events.ts';
import { MessagePublisher } from '../../src/messaging/message-publisher.ts';
import { LogCapture } from '../jobs/helpers.ts';

export { LogCapture, T, waitFor } from '../jobs/helpers.ts';

/** What {@link messagingHost} takes. */
export interface MessagingHostSettings extends MessagingSetup {
  /** The host's shutdown budget. Default: 5,000 ms. */
  readonly shutdownTimeout?: number;
  /** Extra registrations before the host is built. */
  readonly configure?: (builder: HostBuilder) => void;
}

/** A built (not started) host with the messaging services at hand. */
export interface MessagingHost {
  readonly host: Host;
  readonly publisher: MessagePublisher;
  readonly events: MessageEvents;
  readonly logs: LogCapture;
}

const hosts = new Set<Host>();

/** Builds a real host with `addMessaging`; stopped at the end of the test file at the latest. */
export function messagingHost(settings: MessagingHostSettings): MessagingHost {
  const logs = new LogCapture();
  const builder = createHostBuilder({
    env: {},
    args: [],
    contentRoot: import.meta.dirname,
    logging: { destination: logs, level: 'debug', pretty: false },
    host: { shutdownTimeout: settings.shutdownTimeout ?? 5_000 },
  });
  const { shutdownTimeout: _s, configure, ...setup } = settings;
  addMessaging(builder, setup);
  configure?.(builder);
  const host = builder.build();
  hosts.add(host);
  return {
    host,
    publisher: host.services.get(MessagePublisher),
    events: host.services.get(MessageEvents),
    logs,
  };
}

/** Runs `test` with a started host and always stops it. */
export async function withMessagingHost<R>(
  settings: MessagingHostSettings,
  test: (h: MessagingHost) => Promise<R>,
): Promise<R> {
  const h = messagingHost(settings);
  await h.host.start();
  try {
    return await test(h);
  } finally {
    await h.host.stop();
  }
}

after(async () => {
  await Promise.all([...hosts].map((h) => h.stop()));
});

/** Records every message event, in order. */
export function recordMessageEvents(
  events: MessageEvents,
): Array<{ event: MessageEventName; data: unknown }> {
  const seen: Array<{ event: MessageEventName; data: unknown }> = [];
  for (const event of ['received', 'completed', 'failed', 'dead', 'released'] as const) {
    events.on(event, (data: MessageEventMap[typeof event]) => seen.push({ event, data }));
  }
  return seen;
}

/** The body of a message as sent by hand (for poison cases). */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The broker's dead letters of `source`, or undefined while there are none (for `waitFor`). */
export function deadLetters(
  transport: { readonly broker: { deadLetters(source?: string): InMemoryDeadLetter[] } },
  source: string,
): InMemoryDeadLetter[] | undefined {
  const list = transport.broker.deadLetters(source);
  return list.length > 0 ? list : undefined;
}
