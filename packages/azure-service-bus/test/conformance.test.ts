/**
 * The transport conformance suite, unchanged, on the Azure Service Bus adapter: always against the local AMQP
 * stand-in (a STAND-IN, NOT THE SERVICE: see test/support/standin-broker.ts), and against a real namespace when
 * `AZURE_SERVICEBUS_CONNECTION_STRING` is set. The stand-in's restart case runs with the fault tests (test/faults).
 */
import { after } from 'node:test';
import { transportConformance } from '../../hostwork/test/transport-conformance/transport-conformance.ts';
import { namespaceConformanceTarget, standinConformanceTarget } from './support/conformance-target.ts';
import { StandinBroker } from './support/standin-broker.ts';

const broker = await StandinBroker.start();
after(() => broker.stop());

transportConformance(
  'azure service bus (local AMQP stand-in, not the service)',
  () => standinConformanceTarget(broker),
  { locks: true, restart: false, kill: true, redeliveryCount: true },
);

const namespace = process.env.AZURE_SERVICEBUS_CONNECTION_STRING;
if (namespace) {
  transportConformance('azure service bus (real namespace)', () => namespaceConformanceTarget(namespace), {
    locks: true,
    restart: false,
    kill: true,
    redeliveryCount: true,
  });
} else {
  // Not a skipped test: no namespace can be provided here (no emulator runs on this machine, and CI has no Azure
  // account), so the real-namespace run is opt-in, announced with the way to run it.
  process.stdout.write(
    '# azure service bus (real namespace): not run; set AZURE_SERVICEBUS_CONNECTION_STRING to a namespace whose key may manage entities to run the conformance suite against it\n',
  );
}
