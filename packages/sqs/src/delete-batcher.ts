/**
 * Deletes (acks) collected into DeleteMessageBatch calls: per queue, up to 10 entries or what arrives within a few
 * ms, whichever comes first. Each delete resolves when its own entry succeeded and rejects with its own entry's
 * error. A failed call (the broker unreachable) is tried again with backoff while the receipt can still be used
 * (until its visibility timeout runs out), so an ack made during a broker restart is not lost.
 */
import { DeleteMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ErrorCodes, HostworkError } from 'hostwork';

interface PendingDelete {
  readonly receiptHandle: string;
  /** After this (epoch ms) the receipt's visibility has run out: trying again is pointless. */
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** The entries SQS takes in one batch call. */
export const BATCH_SIZE = 10;

/** Collects deletes per queue URL and sends them in batches. */
export class DeleteBatcher {
  readonly #client: SQSClient;
  readonly #windowMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #pending = new Map<string, PendingDelete[]>();
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
    return new Promise<void>((resolve, reject) => {
      let list = this.#pending.get(queueUrl);
      if (list === undefined) {
        list = [];
        this.#pending.set(queueUrl, list);
      }
      list.push({ receiptHandle, deadline, resolve, reject });
      if (list.length >= BATCH_SIZE || this.#closed) this.#send(queueUrl);
      else if (!this.#timers.has(queueUrl))
        this.#timers.set(
          queueUrl,
          setTimeout(() => this.#send(queueUrl), this.#windowMs),
        );
    });
  }

  /** Sends everything collected now and waits until every batch call under way has finished. */
  async flush(): Promise<void> {
    this.#closed = true;
    for (const queueUrl of [...this.#pending.keys()]) this.#send(queueUrl);
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #send(queueUrl: string): void {
    const timer = this.#timers.get(queueUrl);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(queueUrl);
    const list = this.#pending.get(queueUrl);
    if (list === undefined) return;
    this.#pending.delete(queueUrl);
    for (let i = 0; i < list.length; i += BATCH_SIZE) {
      const call = this.#call(queueUrl, list.slice(i, i + BATCH_SIZE)).finally(() =>
        this.#inFlight.delete(call),
      );
      this.#inFlight.add(call);
    }
  }

  async #call(queueUrl: string, entries: PendingDelete[], failures = 0): Promise<void> {
    try {
      const result = await this.#client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((entry, i) => ({ Id: String(i), ReceiptHandle: entry.receiptHandle })),
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
              `SQS refused to delete a message from ${queueUrl}: ${failure.Code ?? 'error'} ${failure.Message ?? ''}`.trim() +
                ' (the message stays in the queue and is delivered again after its visibility timeout).',
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
            `Deleting a message from ${queueUrl} failed until its visibility timeout ran out (it is delivered again): ${(error as Error).message}`,
            { cause: error },
          ),
        );
        return false;
      });
      if (live.length === 0) return;
      if (failures === 0) this.#onError(error);
      await new Promise((resolve) => setTimeout(resolve, wait));
      await this.#call(queueUrl, live, failures + 1);
    }
  }
}
