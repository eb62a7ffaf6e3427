/** The transport's options and a source's, checked up front with HW_ codes. No broker needed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { azureServiceBusTransport } from '@hostwork/azure-service-bus';
import { ErrorCodes } from 'hostwork';

const CS =
  'Endpoint=sb://127.0.0.1:9/;SharedAccessKeyName=k;SharedAccessKey=eA==;UseDevelopmentEmulator=true';
const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

describe('azureServiceBusTransport options', () => {
  it('refuses a misspelt option with HW_UNKNOWN_OPTION, naming the closest', () => {
    assert.throws(
      () => azureServiceBusTransport({ connectionString: CS, closeTimeoutMS: 1 } as never),
      (e: Error) => code(ErrorCodes.UNKNOWN_OPTION)(e) && /closeTimeoutMs/.test(e.message),
    );
  });

  it('needs a connection string, or a namespace with a credential, not both', () => {
    assert.throws(() => azureServiceBusTransport({}), code(ErrorCodes.INVALID_OPTION));
    assert.throws(
      () => azureServiceBusTransport({ connectionString: 'Host=x' }),
      (e: Error) => code(ErrorCodes.INVALID_OPTION)(e) && /Endpoint=sb:\/\//.test(e.message),
    );
    assert.throws(
      () =>
        azureServiceBusTransport({
          connectionString: CS,
          fullyQualifiedNamespace: 'x.servicebus.windows.net',
          credential: { key: 'k', name: 'n' } as never,
        }),
      (e: Error) => code(ErrorCodes.INVALID_OPTION)(e) && /not both/.test(e.message),
    );
    assert.throws(
      () => azureServiceBusTransport({ fullyQualifiedNamespace: 'x.servicebus.windows.net' }),
      code(ErrorCodes.INVALID_OPTION),
    );
    assert.equal(azureServiceBusTransport({ connectionString: CS }).kind, 'azure-service-bus');
  });

  it('checks numbers: lock duration of at least a second, retry delays in order', () => {
    assert.throws(
      () => azureServiceBusTransport({ connectionString: CS, lockDurationMs: 10 }),
      (e: Error) => code(ErrorCodes.INVALID_OPTION)(e) && /lockDurationMs/.test(e.message),
    );
    assert.throws(
      () => azureServiceBusTransport({ connectionString: CS, retryDelayMs: 500, maxRetryDelayMs: 100 }),
      (e: Error) => code(ErrorCodes.INVALID_OPTION)(e) && /maxRetryDelayMs/.test(e.message),
    );
    assert.throws(
      () => azureServiceBusTransport({ connectionString: CS, closeTimeoutMs: 0 }),
      code(ErrorCodes.INVALID_OPTION),
    );
  });

  it('checks managementEndpoint: an http(s) origin, plain http only with the development emulator', () => {
    const real = 'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=eA==';
    for (const bad of ['localhost:5300', 'ftp://x', 'https://x/path', 'https://x/?a=1', 5300])
      assert.throws(
        () => azureServiceBusTransport({ connectionString: CS, managementEndpoint: bad as string }),
        (e: Error) =>
          code(ErrorCodes.INVALID_OPTION)(e) &&
          /'managementEndpoint' must be an http\(s\) origin/.test(e.message),
        String(bad),
      );
    assert.throws(
      () => azureServiceBusTransport({ connectionString: real, managementEndpoint: 'http://10.0.0.5:5300' }),
      (e: Error) =>
        code(ErrorCodes.INVALID_OPTION)(e) && /plain http only with the development emulator/.test(e.message),
    );
    assert.equal(
      azureServiceBusTransport({ connectionString: real, managementEndpoint: 'https://proxy.example:8443/' })
        .kind,
      'azure-service-bus',
    );
    assert.equal(
      azureServiceBusTransport({ connectionString: CS, managementEndpoint: 'http://localhost:5300' }).kind,
      'azure-service-bus',
    );
  });

  it('checks a source: its name, its known options, a subscription only for receiving', async () => {
    const t = azureServiceBusTransport({ connectionString: CS });
    const sub = { prefetch: 1, onDelivery() {} };
    await assert.rejects(t.subscribe({ name: 'bad name' }, sub), code(ErrorCodes.INVALID_OPTION));
    await assert.rejects(
      t.subscribe({ name: 'q', options: { lockDuration: 5 } }, sub),
      (e: Error) => code(ErrorCodes.UNKNOWN_OPTION)(e) && /lockDurationMs/.test(e.message),
    );
    await assert.rejects(
      t.subscribe({ name: 'q' }, { ...sub, prefetch: 0 }),
      code(ErrorCodes.INVALID_OPTION),
    );
    await assert.rejects(
      t.subscribe({ name: 'q', options: { sessions: 'yes' } }, sub),
      (e: Error) => code(ErrorCodes.INVALID_OPTION)(e) && /'sessions'/.test(e.message),
    );
    await assert.rejects(
      t.publish({ name: 'topic', options: { subscription: 's' } }, []),
      (e: Error) => code(ErrorCodes.INVALID_OPTION)(e) && /publish to the topic/.test(e.message),
    );
    await t.close();
    await assert.rejects(async () => t.publish({ name: 'q' }, []), code(ErrorCodes.HOST_STATE));
  });
});
