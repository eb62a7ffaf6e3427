/**
 * Builds the dashboard's front end into dist/assets/: type-checks ui/ for the browser, bundles ui/dashboard.ts with
 * esbuild (one ES module, minified) and copies ui/dashboard.css. Run by `npm run build` (after the TypeScript build,
 * which empties dist/), and by the tests when dist/assets is missing. The package ships these files: nothing is built
 * at the user's install.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Builds the assets of the package at `packageDir` (default: this script's package). */
export function buildAssets(packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')): string {
  const bin = resolve(packageDir, '..', '..', 'node_modules', '.bin');
  const out = join(packageDir, 'dist', 'assets');
  // Built aside and renamed into place: test files building at once never serve a half-written file.
  const staging = join(out, `.staging-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  execFileSync(join(bin, 'tsc'), ['-p', join(packageDir, 'ui', 'tsconfig.json')], {
    stdio: ['ignore', 2, 2],
  });
  execFileSync(
    join(bin, 'esbuild'),
    [
      join(packageDir, 'ui', 'dashboard.ts'),
      '--bundle',
      '--format=esm',
      '--target=es2022',
      '--minify',
      '--legal-comments=none',
      `--outfile=${join(staging, 'dashboard.js')}`,
    ],
    { stdio: ['ignore', 2, 2] },
  );
  copyFileSync(join(packageDir, 'ui', 'dashboard.css'), join(staging, 'dashboard.css'));
  for (const name of ['dashboard.js', 'dashboard.css']) renameSync(join(staging, name), join(out, name));
  rmSync(staging, { recursive: true, force: true });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.error(`built the dashboard's front end into ${buildAssets()}`);
}
