/** The embedded default job store on `node:sqlite`. */
export { SqliteStore, sqliteStore } from './sqlite-store.ts';
export type { SqliteStoreOptions } from './sqlite-store-options.ts';
