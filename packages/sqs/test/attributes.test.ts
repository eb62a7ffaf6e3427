/**
 * Headers as SQS message attributes (a pure function, no broker): with the trace context headers Hostwork's telemetry
 * adds (`traceparent`, `tracestate`) on top of Hostwork's own and the application's, a message never carries more
 * than SQS's 10 attributes, and every header comes back unchanged.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  BODY_ATTRIBUTE,
  decodeHeaders,
  encodeAttributes,
  ID_ATTRIBUTE,
  MAX_ATTRIBUTES,
  NOT_BEFORE_ATTRIBUTE,
} from '../src/attributes.ts';

const trace = {
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
};
/** What a dead-lettered message carries: Hostwork's type, attempt and dead-letter headers. */
const hostworkHeaders = {
  'hostwork-type': 'order-placed',
  'hostwork-attempt': '3',
  'hostwork-attempt-errors': '[{"attempt":1,"message":"no","at":1}]',
  'hostwork-dead-reason': 'attempts-exhausted',
  'hostwork-dead-error': '{"attempt":3,"message":"no","at":3}',
};

it('the trace context headers fit within 10 attributes, with every adapter attribute and header kept', () => {
  const own = { [ID_ATTRIBUTE]: 'm-1', [BODY_ATTRIBUTE]: 'base64', [NOT_BEFORE_ATTRIBUTE]: '1700000000000' };
  for (const extra of [0, 1, 3, 8]) {
    const app = Object.fromEntries(Array.from({ length: extra }, (_, i) => [`x-app-${i}`, `v${i}`]));
    const headers = { ...hostworkHeaders, ...trace, ...app };
    const attributes = encodeAttributes(own, headers);
    assert.ok(
      Object.keys(attributes).length <= MAX_ATTRIBUTES,
      `${Object.keys(attributes).length} attributes with ${extra} application header(s)`,
    );
    assert.deepEqual(decodeHeaders(attributes), headers, 'every header comes back');
  }
});

it('a message with few headers carries traceparent and tracestate as attributes of their own', () => {
  const attributes = encodeAttributes({ [ID_ATTRIBUTE]: 'm-2' }, { 'hostwork-type': 't', ...trace });
  assert.equal(attributes.traceparent?.StringValue, trace.traceparent);
  assert.equal(attributes.tracestate?.StringValue, trace.tracestate);
});
