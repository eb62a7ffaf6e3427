import { sqliteFactory } from './sqlite-factory.ts';
import { describeStoreConformance } from './store-conformance.ts';

// node:sqlite is synchronous, so same-thread peers never overlap; peers in worker threads run truly in parallel
// on their own connections, as separate processes would, and make the race cases real.
describeStoreConformance('sqlite (peers in worker threads)', sqliteFactory({ peersInThreads: true }));
