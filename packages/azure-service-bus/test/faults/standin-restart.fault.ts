/**
 * The transport conformance suite with its broker-restart case, on the local AMQP stand-in (a STAND-IN, NOT THE
 * SERVICE): the restart drops every connection at once, as a crash would, and listens again on the same port keeping
 * every message and lock, as the service keeps them across a gateway restart. The SDK reconnects by itself and its
 * receivers re-attach; a delivery handed over before the restart is settled after it through the `update-disposition`
 * management operation (its link is gone, its lock is not). The stand-in lives in this test process, so restarting it
 * touches no other test; it runs with the fault tests, as the other brokers' restart cases do.
 */
import { after } from 'node:test';
import { transportConformance } from '../../../hostwork/test/transport-conformance/transport-conformance.ts';
import { standinConformanceTarget } from '../support/conformance-target.ts';
import { StandinBroker } from '../support/standin-broker.ts';

const broker = await StandinBroker.start();
after(() => broker.stop());

transportConformance(
  'azure service bus with stand-in restarts (local AMQP stand-in, not the service)',
  () => standinConformanceTarget(broker, { restart: true }),
  { locks: true, restart: true, kill: true },
);
