import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo, type CommandSpec } from '../../src/cli/dispatch.js';

function io(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env, isTTY: false };
  return { io: value, out: () => out.join(''), err: () => err.join('') };
}

const fake: CommandSpec[] = [
  {
    name: 'dlq list',
    usage: '[--limit N] [--json]',
    summary: 'list dead letters',
    options: { limit: { type: 'string' }, json: { type: 'boolean' } },
    validate: (flags) =>
      flags.limit !== undefined && !/^\d+$/.test(String(flags.limit)) ? '--limit takes a number' : undefined,
    run: ({ flags, io: out }) => {
      out.stdout(`listed ${String(flags.limit ?? 'all')}\n`);
      return Promise.resolve(0);
    },
  },
  { name: 'dlq', summary: 'group fallback', run: () => Promise.resolve(5) },
  {
    name: 'needs-config',
    summary: 'reads config',
    run: ({ config }) => Promise.resolve(config().port === 8080 ? 0 : 3),
  },
];

describe('dispatch', () => {
  it('--help lists every command on stdout and exits 0', async () => {
    const t = io();
    expect(await dispatch(fake, ['--help'], t.io)).toBe(0);
    expect(t.out()).toContain('dlq list [--limit N] [--json]');
    expect(t.out()).toContain('needs-config');
  });

  it('no command prints usage on stderr and exits 2', async () => {
    const t = io();
    expect(await dispatch(fake, [], t.io)).toBe(2);
    expect(t.err()).toContain('Usage: market-ingest <command>');
  });

  it('prefers the longest matching command name', async () => {
    const t = io();
    expect(await dispatch(fake, ['dlq', 'list', '--limit', '3'], t.io)).toBe(0);
    expect(t.out()).toBe('listed 3\n');
  });

  it('an unknown command exits 2 with a usage line', async () => {
    const t = io();
    expect(await dispatch(fake, ['frobnicate'], t.io)).toBe(2);
    expect(t.err()).toMatch(/unknown command "frobnicate"/);
  });

  it('an unknown flag exits 2 with the command usage', async () => {
    const t = io();
    expect(await dispatch(fake, ['dlq', 'list', '--bogus'], t.io)).toBe(2);
    expect(t.err()).toContain("Unknown option '--bogus'");
    expect(t.err()).toContain('Usage: market-ingest dlq list [--limit N] [--json]');
  });

  it('a flag value rejected by the command exits 2', async () => {
    const t = io();
    expect(await dispatch(fake, ['dlq', 'list', '--limit', 'many'], t.io)).toBe(2);
    expect(t.err()).toContain('--limit takes a number');
  });

  it('bad configuration exits 1 with one line per variable and no stack', async () => {
    const t = io({ PORT: 'http', MONGO_URL: 'bad' });
    expect(await dispatch(fake, ['needs-config'], t.io)).toBe(1);
    expect(t.err().trim().split('\n')).toEqual([
      'config: MONGO_URL="bad" must be a URL starting with mongodb:// or mongodb+srv://',
      'config: PORT="http" must be a whole number from 0 to 65535',
    ]);
  });
});

describe('market-ingest executable', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env },
      timeout: 20_000,
    });

  it('--help lists only the registered commands', () => {
    const result = run(['--help']);
    expect(result.status).toBe(0);
    for (const command of COMMANDS) expect(result.stdout).toContain(command.name);
  });

  it('exits 2 for an unknown command and 1 for bad configuration', () => {
    const unknown = run(['nope']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command/);

    const bad = run(['config'], { PORT: '99999' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('config: PORT="99999" must be a whole number from 0 to 65535\n');
  });

  it('config shows effective values and hides secrets', () => {
    const result = run(['config', '--json'], {
      TIKTOK_APP_KEY: 'key',
      TIKTOK_APP_SECRET: 'very-secret',
      MONGO_URL: 'mongodb://u:pw@db:27017',
    });
    expect(result.status).toBe(0);
    const shown = JSON.parse(result.stdout) as Record<string, string | null>;
    expect(shown).toMatchObject({
      PORT: '8080',
      TIKTOK_APP_KEY: 'key',
      TIKTOK_APP_SECRET: '(set, hidden)',
      MONGO_URL: 'mongodb://u:***@db:27017',
      SHOPEE_PARTNER_KEY: null,
    });
    expect(result.stdout).not.toContain('very-secret');
    expect(result.stdout).not.toContain(':pw@');
  });
});
