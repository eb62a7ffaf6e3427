/**
 * The store conformance suite: one set of tests every JobStore must pass unchanged (after River's shared driver
 * tests). A store's test file calls `describeStoreConformance('name', factory)`; that is all a new store needs.
 */
import { describe } from 'node:test';
import { cancelRetryCases } from './cases/cancel-retry.ts';
import { claimCases } from './cases/claim.ts';
import { claimedInsertCases } from './cases/claimed-insert.ts';
import { inboxCases } from './cases/inbox.ts';
import { insertCases } from './cases/insert.ts';
import { inspectionCases } from './cases/inspection.ts';
import { leadershipCases } from './cases/leadership.ts';
import { leaseCases } from './cases/leases.ts';
import { metadataCases } from './cases/metadata.ts';
import { operationCases } from './cases/operations.ts';
import { outboxCases } from './cases/outbox.ts';
import { pruneCases } from './cases/prune.ts';
import { resultCases } from './cases/results.ts';
import { scheduleCases } from './cases/schedules.ts';
import { settleCases } from './cases/settle.ts';
import { uniqueCases } from './cases/unique.ts';
import { wakeCases } from './cases/wake.ts';
import { workerCases } from './cases/workers.ts';
import type { StoreFactory } from './harness.ts';

export type { StoreFactory } from './harness.ts';
export { newJob } from './harness.ts';

/** Registers the whole conformance suite for one kind of store. */
export function describeStoreConformance(storeName: string, factory: StoreFactory): void {
  describe(`${storeName} store conformance`, () => {
    insertCases(factory);
    claimCases(factory);
    claimedInsertCases(factory);
    settleCases(factory);
    resultCases(factory);
    metadataCases(factory);
    leaseCases(factory);
    uniqueCases(factory);
    cancelRetryCases(factory);
    inspectionCases(factory);
    operationCases(factory);
    pruneCases(factory);
    scheduleCases(factory);
    wakeCases(factory);
    leadershipCases(factory);
    workerCases(factory);
    outboxCases(factory);
    inboxCases(factory);
  });
}
