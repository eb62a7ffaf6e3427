import { sqliteFactory } from './sqlite-factory.ts';
import { describeStoreConformance } from './store-conformance.ts';

// Peers are more SqliteStore instances on the same file, in this thread.
describeStoreConformance('sqlite', sqliteFactory({ peersInThreads: false }));
