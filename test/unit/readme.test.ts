import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { README_PATH, readmeConfigTable, renderConfigTable } from '../../scripts/readme-config.js';

describe('README configuration table', () => {
  it('matches the config schema (run `npm run docs:config` to regenerate)', () => {
    const table = readmeConfigTable(readFileSync(README_PATH, 'utf8'));
    expect(table, 'README.md has no generated configuration table').toBeDefined();
    expect(table).toBe(renderConfigTable());
  });
});
