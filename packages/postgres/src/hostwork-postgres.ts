#!/usr/bin/env node
/** The `hostwork-postgres` command (see src/cli.ts): `hostwork-postgres migrate|sql [--schema name]`. */
import { runCli } from './cli.ts';

process.exitCode = await runCli(process.argv.slice(2));
