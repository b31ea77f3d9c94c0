/**
 * `market-ingest --version` (CONTRACT §1 v2): the version of the package.json two directories
 * above the dispatcher, as laid out under tsx (src/cli/dispatch.ts) and once built or installed
 * (dist/cli/dispatch.js beside the package's package.json).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { dispatch, packageVersion, type CliIo } from '../../src/cli/dispatch.js';

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

let scratch: string | undefined;
afterEach(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

describe('--version', () => {
  it('prints the package version on stdout and exits 0', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {}, isTTY: false };
    expect(await dispatch([], ['--version'], io)).toBe(0);
    expect(out.join('')).toBe(`${manifest.version}\n`);
    expect(err).toEqual([]);
  });

  it('is listed by --help', async () => {
    const out: string[] = [];
    const io: CliIo = { stdout: (t) => out.push(t), stderr: () => undefined, env: {}, isTTY: false };
    await dispatch([], ['--help'], io);
    expect(out.join('')).toMatch(/^\s+--version\s+the package version$/m);
  });

  it('reads the package.json of an installed package from dist/cli/', () => {
    scratch = mkdtempSync(join(tmpdir(), 'mi-version-'));
    mkdirSync(join(scratch, 'dist', 'cli'), { recursive: true });
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({ name: 'market-ingest', version: '9.8.7-rc.1' }),
    );
    const built = pathToFileURL(join(scratch, 'dist', 'cli', 'dispatch.js'));
    expect(packageVersion(built)).toBe('9.8.7-rc.1');
  });

  it('market-ingest --version under tsx, without any configuration', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--version'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
      timeout: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${manifest.version}\n`);
  });
});
