import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateError,
  packageNameProblem,
  STORES,
  type StoreName,
  scaffold,
  TEMPLATES,
  type TemplateName,
} from './scaffold.ts';

const USAGE = `Usage: npm create hostwork@latest [folder] [-- options]

Creates a Hostwork project in a new folder (nothing is downloaded: the templates are part of this package).

Options:
  -t, --template <name>   worker (default): a host, a Worker (BackgroundService) and a durable job
                          api: an HTTP API answering 202 with a job id, a status endpoint, and the worker
  -s, --store <name>      sqlite (default): an embedded file; postgres: PostgreSQL (DATABASE_URL)
  -y, --yes               ask nothing: defaults for what is not given (the folder is then required)
  -h, --help              this text

In a terminal it asks for what is not given; in scripts and CI (no terminal, or --yes) it never asks.
Example: npm create hostwork@latest import-worker -- --template worker --store postgres`;

/** Where the command's output goes; tests give their own. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Whether to ask for what is missing (a terminal on both ends, and no --yes). */
  readonly interactive: boolean;
  readonly cwd: string;
}

/** What the user chose. */
interface Choices {
  folder: string | undefined;
  template: TemplateName | undefined;
  store: StoreName | undefined;
}

/** Runs the command; resolves to the exit code (0 created, 1 a problem the message names, 2 bad usage). */
export async function runCreate(argv: readonly string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`create-hostwork: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    io.out(USAGE);
    return 0;
  }
  const choices: Choices = { folder: parsed.folder, template: parsed.template, store: parsed.store };
  try {
    if (io.interactive && !parsed.yes) {
      const asked = await ask(choices);
      if (asked === 'cancelled') {
        io.err('create-hostwork: cancelled; nothing was written.');
        return 1;
      }
    }
    if (choices.folder === undefined)
      throw new CreateError(
        'Give the project folder: npm create hostwork@latest my-worker (without a terminal nothing is asked).',
      );
    const directory = resolve(io.cwd, choices.folder);
    const name = basename(directory);
    const template = choices.template ?? 'worker';
    const store = choices.store ?? 'sqlite';
    const files = scaffold({ directory, name, template, store, hostworkRange: `^${ownVersion()}` });
    io.out(`Created ${name} (template ${template}, store ${store}) in ${directory}: ${files.length} files.`);
    io.out('');
    io.out('Next:');
    io.out(`  cd ${choices.folder}`);
    io.out('  npm install');
    io.out(store === 'postgres' ? '  DATABASE_URL=postgres://… npm start' : '  npm start');
    io.out('  npm test');
    return 0;
  } catch (error) {
    if (error instanceof CreateError) {
      io.err(`create-hostwork: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      template: { type: 'string', short: 't' },
      store: { type: 'string', short: 's' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 1)
    throw new Error(`one project folder, got ${positionals.length}: ${positionals.join(' ')}`);
  const template = values.template;
  if (template !== undefined && !(template in TEMPLATES))
    throw new Error(`--template ${template}: choose one of ${Object.keys(TEMPLATES).join(', ')}`);
  const store = values.store;
  if (store !== undefined && !(store in STORES))
    throw new Error(`--store ${store}: choose one of ${Object.keys(STORES).join(', ')}`);
  return {
    folder: positionals[0],
    template: template as TemplateName | undefined,
    store: store as StoreName | undefined,
    yes: values.yes === true,
    help: values.help === true,
  };
}

/** Asks for what is missing, in place; 'cancelled' when the user pressed Ctrl+C or Escape. */
async function ask(choices: Choices): Promise<'done' | 'cancelled'> {
  // Loaded only in a terminal: scripts and CI never pay for it.
  const prompts = await import('@clack/prompts');
  prompts.intro('create-hostwork');
  if (choices.folder === undefined) {
    const folder = await prompts.text({
      message: 'Project folder',
      placeholder: 'my-worker',
      defaultValue: 'my-worker',
      validate: (value) => {
        const name = basename(resolve(value || 'my-worker'));
        return packageNameProblem(name);
      },
    });
    if (prompts.isCancel(folder)) return 'cancelled';
    choices.folder = folder;
  }
  if (choices.template === undefined) {
    const template = await prompts.select<TemplateName>({
      message: 'Template',
      options: (Object.keys(TEMPLATES) as TemplateName[]).map((value) => ({ value, hint: TEMPLATES[value] })),
    });
    if (prompts.isCancel(template)) return 'cancelled';
    choices.template = template;
  }
  if (choices.store === undefined) {
    const store = await prompts.select<StoreName>({
      message: 'Where jobs are stored',
      options: (Object.keys(STORES) as StoreName[]).map((value) => ({ value, hint: STORES[value] })),
    });
    if (prompts.isCancel(store)) return 'cancelled';
    choices.store = store;
  }
  prompts.outro('Writing the project');
  return 'done';
}

/** This package's version: the generated project depends on the Hostwork release made with it. */
function ownVersion(): string {
  const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}
