import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';

/** The project templates bundled in this package (templates/<name>). */
export const TEMPLATES = {
  worker: 'A background worker: a host, a Worker (BackgroundService) and a durable job',
  api: 'An HTTP API answering 202 with a job id, a status endpoint, and the worker in the same process',
} as const;
export type TemplateName = keyof typeof TEMPLATES;

/** Where the generated project keeps its jobs. */
export const STORES = {
  sqlite: 'SQLite: an embedded file, nothing to run (one machine)',
  postgres: 'PostgreSQL: many processes and machines share one queue',
} as const;
export type StoreName = keyof typeof STORES;

/** What to generate. */
export interface ScaffoldOptions {
  /** The project's folder; created, and refused when it exists and is not empty. */
  readonly directory: string;
  /** The npm package name of the project. */
  readonly name: string;
  readonly template: TemplateName;
  readonly store: StoreName;
  /** The Hostwork version range the project depends on, e.g. `^0.1.0`. */
  readonly hostworkRange: string;
}

/** A problem the user can fix, with the fix in its message; the command prints it without a stack. */
export class CreateError extends Error {
  override name = 'CreateError';
}

const TEMPLATES_DIR = join(import.meta.dirname, '..', 'templates');

/** Files of a template whose name is not their name in the project (npm would drop a `.gitignore` from a tarball). */
const RENAMED: Readonly<Record<string, string>> = {
  _gitignore: '.gitignore',
  _dockerignore: '.dockerignore',
};

/** npm's rules for a new package name, reduced to what a folder name can get wrong. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** Checks a package name; returns the problem, or undefined when it is fine. */
export function packageNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the name is empty';
  if (name.length > 214) return 'the name is longer than 214 characters';
  if (!PACKAGE_NAME.test(name))
    return `'${name}' is not a valid npm package name: use lowercase letters, digits, '-', '.', '_' and '~', starting with a letter or digit`;
  return undefined;
}

/** Generates the project; returns the files written, relative to its folder, sorted. */
export function scaffold(options: ScaffoldOptions): string[] {
  const { directory, template, store } = options;
  if (!(template in TEMPLATES))
    throw new CreateError(
      `Unknown template '${template}'; choose one of: ${Object.keys(TEMPLATES).join(', ')}.`,
    );
  if (!(store in STORES))
    throw new CreateError(`Unknown store '${store}'; choose one of: ${Object.keys(STORES).join(', ')}.`);
  const problem = packageNameProblem(options.name);
  if (problem) throw new CreateError(`${problem}.`);
  if (existsSync(directory)) {
    if (!statSync(directory).isDirectory())
      throw new CreateError(`${directory} exists and is a file; choose another project name.`);
    if (readdirSync(directory).length > 0)
      throw new CreateError(
        `The folder ${directory} exists and is not empty; nothing was written. Choose another project name, or empty that folder first.`,
      );
  }
  mkdirSync(directory, { recursive: true });
  const written: string[] = [];
  const source = join(TEMPLATES_DIR, template);
  for (const entry of readdirSync(source, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const from = join(entry.parentPath, entry.name);
    const target = targetPath(relative(source, from), store);
    if (target === undefined) continue;
    const to = join(directory, target);
    mkdirSync(join(to, '..'), { recursive: true });
    if (target === 'README.md') writeFileSync(to, readme(readFileSync(from, 'utf8'), options));
    else copyFileSync(from, to);
    written.push(target);
  }
  writeFileSync(join(directory, 'package.json'), `${JSON.stringify(packageJson(options), null, 2)}\n`);
  writeFileSync(join(directory, 'hostwork.json'), `${JSON.stringify(configuration(options), null, 2)}\n`);
  written.push('package.json', 'hostwork.json');
  return written.sort();
}

/** A template file's path in the project, or undefined for the other store's variant. */
function targetPath(path: string, store: StoreName): string | undefined {
  const variant = /^(.*)\.(sqlite|postgres)(\.[a-z]+)$/.exec(path);
  if (variant) return variant[2] === store ? `${variant[1]}${variant[3]}` : undefined;
  const base = path.split('/').pop()!;
  return base in RENAMED ? path.slice(0, -base.length) + RENAMED[base] : path;
}

function packageJson({ name, store, hostworkRange }: ScaffoldOptions): Record<string, unknown> {
  return {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    engines: { node: '>=22.20.0' },
    scripts: {
      // exec: node replaces the shell, so a SIGTERM sent to `npm start` reaches the host.
      start: 'exec env HOSTWORK_ENVIRONMENT=Development node src/main.ts',
      test: 'node --test test/*.test.ts',
      typecheck: 'tsc',
    },
    dependencies: {
      ...(store === 'postgres' ? { '@hostwork/postgres': hostworkRange } : {}),
      hostwork: hostworkRange,
      zod: '^4.1.0',
    },
    devDependencies: { '@types/node': '^22.18.0', typescript: '^5.9.0' },
  };
}

function configuration({ template, store }: ScaffoldOptions): Record<string, unknown> {
  return {
    ...(template === 'worker' ? { Import: { IntervalMs: 5000, Source: 'inbox' } } : { Http: { Port: 3000 } }),
    // The PostgreSQL connection string is a secret: give it as DATABASE_URL or JOBS__POSTGRES__CONNECTIONSTRING.
    Jobs: store === 'sqlite' ? { Sqlite: { Path: '.data/jobs.db' } } : { Postgres: { Schema: 'hostwork' } },
    Host: { ShutdownTimeout: 30000 },
  };
}

function readme(text: string, { name, store }: ScaffoldOptions): string {
  const storeText =
    store === 'sqlite'
      ? 'SQLite (`.data/jobs.db`, set by `Jobs:Sqlite:Path` in hostwork.json)'
      : 'PostgreSQL (`DATABASE_URL`, or `Jobs:Postgres:ConnectionString`; the schema is `Jobs:Postgres:Schema`)';
  const notes =
    store === 'sqlite'
      ? '\nThe SQLite file belongs to one machine. For several processes or machines sharing one queue, generate the\nproject with `--store postgres`.\n'
      : '\nStart it with `DATABASE_URL=postgres://user:password@host:5432/database npm start`: the store creates its\nschema on first start. The tests need no server (they use an in-memory SQLite store).\n';
  return text
    .replaceAll('__NAME__', name)
    .replaceAll('__STORE_TEXT__', storeText)
    .replace('__STORE_NOTES__\n', notes);
}
