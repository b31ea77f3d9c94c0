/**
 * The shape of the house (../shared/STYLE.md), checked on every import in src/:
 * infrastructure (shared) depends on nothing of ours; the marketplaces only on shared; the roles
 * never on each other; the simulated marketplace never on the clients it checks.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = 'src';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** The area of src/ a file belongs to: its first folder, or the file itself at the top. */
function areaOf(path: string): string {
  const [first, second] = relative(SRC, path).split(/[\\/]/);
  if (first === 'sandbox' && second === 'marketplace') return 'sandbox/marketplace';
  return second === undefined ? first!.replace(/\.[jt]s$/, '') : first!;
}

/** What each area may import besides itself. */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  marketplaces: ['shared'],
  'sandbox/marketplace': ['shared'],
  runtime: ['shared', 'marketplaces'],
  ingest: ['shared', 'marketplaces'],
  consumer: ['shared', 'marketplaces', 'runtime'],
  reconcile: ['shared', 'marketplaces', 'runtime'],
  sandbox: ['shared', 'marketplaces', 'sandbox/marketplace'],
};

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const targets: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    targets.push(normalize(join(dirname(file), match[1]!)));
  }
  return targets;
}

describe('layering', () => {
  it('every import in src/ goes only where its area may depend', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const area = areaOf(file);
      const allowed = ALLOWED[area];
      if (!allowed) continue; // cli.ts and src/cli compose everything
      for (const target of importsOf(file)) {
        const targetArea = areaOf(target);
        if (targetArea !== area && !allowed.includes(targetArea)) {
          violations.push(`${file} (${area}) imports ${target} (${targetArea})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('sees a violation when there is one', () => {
    expect(areaOf('src/shared/x.ts')).toBe('shared');
    expect(areaOf('src/marketplaces/tiktok/client.ts')).toBe('marketplaces');
    expect(areaOf('src/sandbox/marketplace/tiktok.ts')).toBe('sandbox/marketplace');
    expect(areaOf('src/runtime.ts')).toBe('runtime');
    expect(ALLOWED.shared).not.toContain('marketplaces');
    expect(ALLOWED.ingest).not.toContain('consumer');
  });
});
