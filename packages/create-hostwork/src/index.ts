#!/usr/bin/env node
/** `npm create hostwork@latest [folder] -- [--template worker|api] [--store sqlite|postgres] [--yes]`. */
import { runCreate } from './cli.ts';

process.exitCode = await runCreate(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interactive: process.stdin.isTTY === true && process.stdout.isTTY === true,
  cwd: process.cwd(),
});
