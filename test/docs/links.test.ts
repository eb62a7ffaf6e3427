import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/**
 * The user documentation links its pages to each other and to the repository's files: a renamed file or heading
 * must fail here, not in a reader's browser. Checks README.md and docs/*.md: every relative link names a file that
 * exists, and a `#fragment` into a Markdown file names one of its headings (GitHub's anchors).
 */
const REPO = resolve(import.meta.dirname, '..', '..');
const PAGES = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

interface Link {
  readonly target: string;
  readonly line: number;
}

/** Inline links and images `[text](target "title")` and reference definitions `[id]: target`, outside code. */
function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*(```|~~~)/.test(text)) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const prose = text.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: m[1]!, line: i + 1 });
    }
    const definition = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(prose);
    if (definition) links.push({ target: definition[1]!, line: i + 1 });
  });
  return links;
}

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to '-', repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const text of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(text)) fenced = !fenced;
    if (fenced) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const slug = heading[1]!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i;

describe('documentation links', () => {
  for (const page of PAGES) {
    it(`${page}: every relative link points at an existing file (and heading)`, () => {
      const file = join(REPO, page);
      const text = readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const { target, line } of linksOf(text)) {
        if (EXTERNAL.test(target)) continue;
        const [path = '', fragment] = target.split('#');
        const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
        if (!existsSync(resolved)) {
          broken.push(`${page}:${line}: ${target} (no file ${relative(REPO, resolved)})`);
          continue;
        }
        if (fragment && resolved.endsWith('.md') && statSync(resolved).isFile()) {
          if (!anchorsOf(readFileSync(resolved, 'utf8')).has(fragment.toLowerCase())) {
            broken.push(
              `${page}:${line}: ${target} (no heading #${fragment} in ${relative(REPO, resolved)})`,
            );
          }
        }
      }
      assert.deepEqual(broken, [], `Broken links:\n${broken.join('\n')}`);
    });
  }

  it('finds links, skips code, and computes GitHub anchors', () => {
    const sample = ['[a](docs/x.md#y) `[b](nope.md)`', '```', '[c](fenced.md)', '```', '[d]: ./e.md'].join(
      '\n',
    );
    assert.deepEqual(
      linksOf(sample).map((l) => l.target),
      ['docs/x.md#y', './e.md'],
    );
    assert.deepEqual(
      [...anchorsOf('# The `Host`: start & stop\n## Errors\n## Errors')],
      ['the-host-start--stop', 'errors', 'errors-1'],
    );
  });
});
