/**
 * Deletes (acks) and visibility changes (releases, extensions) collected into DeleteMessageBatch and
 * ChangeMessageVisibilityBatch calls: per queue and kind, up to 10 entries or what arrives within a few ms, whichever
 * comes first. Each entry's promise resolves when its own entry succeeded and rejects with its own entry's error. A
 * failed call (the broker unreachable) is tried again with backoff while the receipt can still be used (until its
 * visibility timeout runs out), so an ack made during a broker restart is not lost.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { ErrorCodes, HostworkError } from 'hostwork';

interface PendingEntry {
  readonly receiptHandle: string;
  /** For a visibility change: the new timeout in seconds. */
  readonly visibilityTimeout?: number;
  /** After this (epoch ms) the receipt's visibility has run out: trying again is pointless. */
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** The entries SQS takes in one batch call. */
export const BATCH_SIZE = 10;

type Kind = 'delete' | 'visibility';

/** Collects deletes and visibility changes per queue URL and sends them in batches. */
export class SettleBatcher {
  readonly #client: SQSClient;
  readonly #windowMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #pending = new Map<string, PendingEntry[]>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Batch calls under way (flush waits for them). */
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(client: SQSClient, windowMs: number, onError: (error: unknown) => void) {
    this.#client = client;
    this.#windowMs = windowMs;
    this.#onError = onError;
  }

  /** Deletes one received message; resolves once SQS confirmed this entry. */
  delete(queueUrl: string, receiptHandle: string, deadline: number): Promise<void> {
    return this.#add('delete', queueUrl, receiptHandle, deadline, undefined);
  }

  /** Sets a received message's visibility timeout to `seconds` from now; resolves once SQS confirmed this entry. */
  changeVisibility(
    queueUrl: string,
    receiptHandle: string,
    seconds: number,
    deadline: number,
  ): Promise<void> {
    return this.#add('visibility', queueUrl, receiptHandle, deadline, seconds);
  }

  #add(
    kind: Kind,
    queueUrl: string,
    receiptHandle: string,
    deadline: number,
    visibilityTimeout: number | undefined,
  ): Promise<void> {
    const key = `${kind} ${queueUrl}`;
    return new Promise<void>((resolve, reject) => {
      let list = this.#pending.get(key);
      if (list === undefined) {
        list = [];
        this.#pending.set(key, list);
      }
      list.push({ receiptHandle, visibilityTimeout, deadline, resolve, reject });
      if (list.length >= BATCH_SIZE || this.#closed) this.#send(key);
      else if (!this.#timers.has(key))
        this.#timers.set(
          key,
          setTimeout(() => this.#send(key), this.#windowMs),
        );
    });
  }

  /** Sends everything collected now and waits until every batch call under way has finished. */
  async flush(): Promise<void> {
    this.#closed = true;
    for (const key of [...this.#pending.keys()]) this.#send(key);
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #send(key: string): void {
    const timer = this.#timers.get(key);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(key);
    const list = this.#pending.get(key);
    if (list === undefined) return;
    this.#pending.delete(key);
    const space = key.indexOf(' ');
    const kind = key.slice(0, space) as Kind;
    const queueUrl = key.slice(space + 1);
    for (let i = 0; i < list.length; i += BATCH_SIZE) {
      const call = this.#call(kind, queueUrl, list.slice(i, i + BATCH_SIZE)).finally(() =>
        this.#inFlight.delete(call),
      );
      this.#inFlight.add(call);
    }
  }

  async #call(kind: Kind, queueUrl: string, entries: PendingEntry[], failures = 0): Promise<void> {
    const what = kind === 'delete' ? 'delete a message from' : 'change the visibility of a message in';
    try {
      const result =
        kind === 'delete'
          ? await this.#client.send(
              new DeleteMessageBatchCommand({
                QueueUrl: queueUrl,
                Entries: entries.map((entry, i) => ({ Id: String(i), ReceiptHandle: entry.receiptHandle })),
              }),
            )
          : await this.#client.send(
              new ChangeMessageVisibilityBatchCommand({
                QueueUrl: queueUrl,
                Entries: entries.map((entry, i) => ({
                  Id: String(i),
                  ReceiptHandle: entry.receiptHandle,
                  VisibilityTimeout: entry.visibilityTimeout,
                })),
              }),
            );
      const failed = new Map((result.Failed ?? []).map((f) => [f.Id, f]));
      entries.forEach((entry, i) => {
        const failure = failed.get(String(i));
        if (failure === undefined) entry.resolve();
        else
          entry.reject(
            new HostworkError(
              ErrorCodes.TRANSPORT_FAILED,
              `SQS refused to ${what} ${queueUrl}: ${failure.Code ?? 'error'} ${failure.Message ?? ''}`.trim() +
                ' (the message is delivered again when its visibility timeout runs out).',
            ),
          );
      });
    } catch (error) {
      // The call itself failed (broker unreachable, throttled): again with backoff while the receipts are usable.
      const wait = Math.min(5_000, 100 * 2 ** failures);
      const live = entries.filter((entry) => {
        if (Date.now() + wait < entry.deadline) return true;
        entry.reject(
          new HostworkError(
            ErrorCodes.TRANSPORT_FAILED,
            `Trying to ${what} ${queueUrl} failed until its visibility timeout ran out (it is delivered again): ${(error as Error).message}`,
            { cause: error },
          ),
        );
        return false;
      });
      if (live.length === 0) return;
      if (failures === 0) this.#onError(error);
      await new Promise((resolve) => setTimeout(resolve, wait));
      await this.#call(kind, queueUrl, live, failures + 1);
    }
  }
}
