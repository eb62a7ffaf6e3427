/**
 * Copies sent by settles (retries, dead letters) collected into SendMessageBatch calls: per queue, up to 10 entries
 * and SQS's size limit, or what arrives within a few ms. Each copy resolves when its own entry succeeded and rejects
 * with its own entry's error. A failed call is not sent again here (the SDK has retried it already): the settle fails
 * and the original stays, to be delivered again after its visibility timeout.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ErrorCodes, HostworkError } from 'hostwork';
import type { SendEntry } from './sending.ts';
import { BATCH_SIZE } from './settle-batcher.ts';

interface PendingSend {
  readonly entry: SendEntry;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Collects copies per queue URL and sends them in batches. */
export class SendBatcher {
  readonly #client: SQSClient;
  readonly #windowMs: number;
  readonly #maxBytes: number;
  readonly #pending = new Map<string, { entries: PendingSend[]; bytes: number }>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(client: SQSClient, windowMs: number, maxBytes: number) {
    this.#client = client;
    this.#windowMs = windowMs;
    this.#maxBytes = maxBytes;
  }

  /** Sends one message to `queueUrl`; resolves once SQS confirmed this entry. */
  send(queueUrl: string, entry: SendEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let batch = this.#pending.get(queueUrl);
      // One that would not fit goes with the next batch.
      if (batch !== undefined && batch.bytes + entry.size > this.#maxBytes) {
        this.#send(queueUrl);
        batch = undefined;
      }
      if (batch === undefined) {
        batch = { entries: [], bytes: 0 };
        this.#pending.set(queueUrl, batch);
      }
      batch.entries.push({ entry, resolve, reject });
      batch.bytes += entry.size;
      if (batch.entries.length >= BATCH_SIZE || this.#closed) this.#send(queueUrl);
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
    const batch = this.#pending.get(queueUrl);
    if (batch === undefined) return;
    this.#pending.delete(queueUrl);
    const call = this.#call(queueUrl, batch.entries).finally(() => this.#inFlight.delete(call));
    this.#inFlight.add(call);
  }

  async #call(queueUrl: string, pending: readonly PendingSend[]): Promise<void> {
    try {
      const result = await this.#client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: pending.map(({ entry }, i) => ({
            Id: String(i),
            MessageBody: entry.body,
            MessageAttributes: entry.attributes,
            DelaySeconds: entry.delaySeconds,
            MessageGroupId: entry.groupId,
            MessageDeduplicationId: entry.deduplicationId,
          })),
        }),
      );
      const failed = new Map((result.Failed ?? []).map((f) => [f.Id, f]));
      pending.forEach(({ entry, resolve, reject }, i) => {
        const failure = failed.get(String(i));
        if (failure === undefined) resolve();
        else
          reject(
            new HostworkError(
              ErrorCodes.TRANSPORT_FAILED,
              `SQS queue ${queueUrl} refused the copy of message ${entry.id}: ${failure.Code ?? 'error'} ${failure.Message ?? ''}`.trim() +
                '; the original stays and is delivered again after its visibility timeout.',
            ),
          );
      });
    } catch (error) {
      for (const { entry, reject } of pending)
        reject(
          new HostworkError(
            ErrorCodes.TRANSPORT_FAILED,
            `Sending the copy of SQS message ${entry.id} to ${queueUrl} failed; the original stays and is delivered again after its visibility timeout: ${(error as Error).message}`,
            { cause: error },
          ),
        );
    }
  }
}
