/**
 * Builds the package in the current directory for publishing: `tsc -p tsconfig.build.json` (JavaScript, declarations
 * and source maps from src/ into dist/), after emptying dist/. The sources import each other with `.ts` extensions
 * (Node runs them as they are in this repository); tsc rewrites those to `.js` in the JavaScript it emits but not in
 * declarations, so this rewrites them there too: a consumer's TypeScript then resolves them like any `.js` import.
 *
 *   npm run build          (in a package; `npm pack` runs it through `prepack`)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const packageDir = process.cwd();
const dist = join(packageDir, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = resolve(import.meta.dirname, '..', 'node_modules', '.bin', 'tsc');
// Everything on stderr: `npm pack --json` runs this through prepack, and its stdout must stay JSON.
execFileSync(tsc, ['-p', join(packageDir, 'tsconfig.build.json')], { stdio: ['ignore', 2, 2] });

/** `from './x.ts'`, `import('./x.ts')`, `export * from '../y.ts'`: relative specifiers only. */
const RELATIVE_TS = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.ts\2/g;
let rewritten = 0;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const file = join(entry.parentPath, entry.name);
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(RELATIVE_TS, '$1$2$3.js$2');
  if (fixed !== text) {
    writeFileSync(file, fixed);
    rewritten++;
  }
}
console.log(
  `built ${packageDir} into dist/ (${rewritten} declaration files had their .ts imports rewritten to .js)`,
);
