#!/usr/bin/env node
/** The `hostwork` command's entry point (the package's bin): see run-cli.ts. */

// Node.js 22 prints an ExperimentalWarning when node:sqlite loads; in the command's output that notice is noise
// (the store's behaviour does not depend on it). Dropped before anything loads node:sqlite, hence the dynamic import.
const emitWarning = process.emitWarning;
process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
  const message = typeof warning === 'string' ? warning : warning.message;
  if (message.startsWith('SQLite is an experimental feature')) return;
  (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
} as typeof process.emitWarning;

const { runCli } = await import('./run-cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
