/**
 * Every relative link in the user-facing Markdown leads somewhere: the file or directory exists, and a
 * `#fragment` names a heading of the target (a directory's README.md), slugged as GitHub does.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The Markdown a user reads: every .md outside node_modules, build output and the bench results. */
function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (
      entry.name.startsWith('.') ||
      ['node_modules', 'dist', 'cdk.out', 'bench-results'].includes(entry.name)
    )
      return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/** Markdown without its fenced code blocks and inline code, whose brackets are no links. */
const prose = (markdown: string) => markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string) =>
  heading
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

/** The anchors of a Markdown file's headings (repeated headings get `-1`, `-2`..., as on GitHub). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading = ''] of markdown
    .replace(/^```[\s\S]*?^```/gm, '')
    .matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

const FILES = markdownFiles(ROOT);

describe('documentation links', () => {
  it('finds the Markdown to check (the root README, MIGRATING.md and every package README)', () => {
    const names = FILES.map((f) => relative(ROOT, f));
    expect(names).toEqual(expect.arrayContaining(['README.md', 'MIGRATING.md', 'packages/core/README.md']));
  });

  it('slugs headings as GitHub does', () => {
    expect(slug('Payment: exactly one charge per order')).toBe('payment-exactly-one-charge-per-order');
    expect(slug('Guarantees, and what they rest on')).toBe('guarantees-and-what-they-rest-on');
    expect(slug('Public demo: `-c apiAuth=none`')).toBe('public-demo--c-apiauthnone');
    expect([...anchors('# A\n## B\n## B\n')]).toEqual(['a', 'b', 'b-1']);
  });

  it.each(FILES.map((f) => [relative(ROOT, f), f]))('%s: every relative link resolves', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const broken: string[] = [];
    for (const [, target = ''] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      const [path = '', fragment] = target.split('#');
      const resolved = path ? join(dirname(file), decodeURIComponent(path)) : file;
      if (!existsSync(resolved)) {
        broken.push(`${target}: no such file`);
        continue;
      }
      if (fragment === undefined) continue;
      const doc = statSync(resolved).isDirectory() ? join(resolved, 'README.md') : resolved;
      if (!existsSync(doc) || !doc.endsWith('.md')) {
        broken.push(`${target}: no Markdown to hold the anchor`);
        continue;
      }
      if (!anchors(readFileSync(doc, 'utf8')).has(fragment)) broken.push(`${target}: no such heading`);
    }
    expect(broken).toEqual([]);
  });
});
