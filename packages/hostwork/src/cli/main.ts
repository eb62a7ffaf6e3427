#!/usr/bin/env node
/** The `hostwork` command's entry point (the package's bin): see run-cli.ts. */
import { runCli } from './run-cli.ts';

process.exitCode = await runCli(process.argv.slice(2));
