/**
 * Hostwork: a generic host for Node.js — dependency injection with scopes, layered configuration,
 * structured logging, hosted services with graceful shutdown — durable background jobs, and message consumers on
 * any broker behind one transport interface.
 */
export * from './config/index.ts';
export * from './di/index.ts';
export * from './errors.ts';
export * from './health/index.ts';
export * from './hosting/index.ts';
export * from './jobs/index.ts';
export * from './logging/index.ts';
export * from './messaging/index.ts';
export * from './services/index.ts';
export * from './stores/sqlite/index.ts';
export * from './typed-events.ts';
