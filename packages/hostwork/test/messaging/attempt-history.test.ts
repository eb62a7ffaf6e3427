import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  deadLetterHeaders,
  deliveryAttempt,
  deliveryError,
  MAX_HISTORY_BYTES,
  readAttemptErrors,
  retryHeaders,
} from '../../src/messaging/attempt-history.ts';
import { ATTEMPT_HEADER, DEAD_LETTER_HEADERS, type DeliveryError } from '../../src/messaging/transport.ts';

// The headers every adapter writes the same way: the attempt count and the capped attempt history.

const error = (attempt: number, message = `fail ${attempt}`): DeliveryError => ({
  attempt,
  message,
  at: 1_000 + attempt,
});

describe('attempt headers', () => {
  it('counts the attempt from the header, 1 when absent or unreadable', () => {
    assert.equal(deliveryAttempt({}), 1);
    assert.equal(deliveryAttempt({ [ATTEMPT_HEADER]: '0' }), 1);
    assert.equal(deliveryAttempt({ [ATTEMPT_HEADER]: '4' }), 5);
    assert.equal(deliveryAttempt({ [ATTEMPT_HEADER]: 'x' }), 1);
    assert.equal(deliveryAttempt({ [ATTEMPT_HEADER]: '-3' }), 1);
  });

  it('grows the history on each retry and keeps the other headers', () => {
    let headers: Record<string, string> = { trace: 't', 'hostwork-type': 'x' };
    headers = retryHeaders(headers, error(1));
    headers = retryHeaders(headers, error(2));
    assert.equal(headers[ATTEMPT_HEADER], '2');
    assert.equal(headers.trace, 't');
    assert.deepEqual(readAttemptErrors(headers), [error(1), error(2)]);
    const dead = deadLetterHeaders(headers, 'attempts-exhausted', [...readAttemptErrors(headers), error(3)]);
    assert.equal(dead[DEAD_LETTER_HEADERS.reason], 'attempts-exhausted');
    assert.equal(dead[DEAD_LETTER_HEADERS.error], 'fail 3');
    assert.equal(dead[ATTEMPT_HEADER], '3');
    assert.equal(readAttemptErrors(dead).length, 3);
  });

  it('caps the history at MAX_HISTORY_BYTES, dropping the oldest attempts and cutting long messages', () => {
    let headers: Record<string, string> = {};
    for (let attempt = 1; attempt <= 40; attempt++)
      headers = retryHeaders(headers, error(attempt, 'é'.repeat(2_000)));
    const text = headers[DEAD_LETTER_HEADERS.history]!;
    assert.ok(
      Buffer.byteLength(text, 'utf8') <= MAX_HISTORY_BYTES,
      `${Buffer.byteLength(text, 'utf8')} bytes`,
    );
    const kept = readAttemptErrors(headers);
    assert.ok(kept.length >= 2 && kept.length < 40, `${kept.length} kept`);
    assert.equal(kept.at(-1)!.attempt, 40, 'the newest is kept');
    assert.equal(kept.at(-1)!.message.length, 501, 'cut at 500 characters and an ellipsis');
  });

  it('reads an unreadable history as none', () => {
    assert.deepEqual(readAttemptErrors({ [DEAD_LETTER_HEADERS.history]: '{not json' }), []);
    assert.deepEqual(readAttemptErrors({ [DEAD_LETTER_HEADERS.history]: '{"a":1}' }), []);
    assert.deepEqual(readAttemptErrors({ [DEAD_LETTER_HEADERS.history]: '[{"attempt":1},"x"]' }), []);
  });

  it('describes whatever a handler threw', () => {
    const e = deliveryError(2, Object.assign(new TypeError('bad'), { code: 'E_BAD' }));
    assert.equal(e.attempt, 2);
    assert.equal(e.name, 'TypeError');
    assert.equal(e.code, 'E_BAD');
    assert.equal(e.message, 'bad [E_BAD]');
    assert.equal(deliveryError(1, 'text').message, 'text');
    assert.equal(deliveryError(1, Symbol('s')).message, 'a symbol was thrown: Symbol(s)');
  });
});
