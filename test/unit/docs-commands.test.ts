/**
 * Docs match behaviour: every `market-ingest <command>` and every `--flag` given to it in the user
 * docs (code blocks and inline code) exists in the dispatcher — the CommandSpecs it dispatches
 * (src/cli/commands.ts), so a command another change adds passes here once it is registered, and
 * a doc line about a command or flag that does not exist fails.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { COMMANDS } from '../../src/cli/commands.js';
import { dispatch, type CliIo, type CommandSpec } from '../../src/cli/dispatch.js';

const DOCS = ['README.md', 'docs/operations.md', 'docs/collections.md'];
const ROOT = new URL('../../', import.meta.url);

interface Invocation {
  where: string;
  /** Command words as written, e.g. ["dlq", "list"]; empty for `market-ingest --help`. */
  words: string[];
  flags: string[];
}

interface CodeLine {
  text: string;
  line: number;
  /** Inside a fenced block, where a line may continue the previous line's command. */
  block: boolean;
}

/** Fenced code blocks line by line, and the inline code spans of everything else. */
function codeLines(markdown: string): CodeLine[] {
  const result: CodeLine[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, index) => {
    if (/^\s*```/.test(text)) {
      fenced = !fenced;
      return;
    }
    if (fenced) result.push({ text, line: index + 1, block: true });
    else
      for (const span of text.matchAll(/`([^`]+)`/g))
        result.push({ text: span[1]!, line: index + 1, block: false });
  });
  return result;
}

const PROGRAM = /(?:^|[\s(`])market-ingest(?=\s|$)/g;
const WORD = /^([a-z][a-z-]*)([)\]:.,;…]*)$/;
const FLAG = /(?<![\w-])--([a-z][a-z0-9-]*)/g;

/**
 * Whether `market-ingest` after this text is run as a command (`$ `, `npx `, `(`, env assignments,
 * a docker command line, or first on its line) rather than named in a sentence ("the
 * market-ingest executable").
 */
function startsCommand(before: string): boolean {
  const text = before.trimEnd();
  return (
    text === '' ||
    /(?:^|\s)(?:npx|\$|#)$/.test(text) ||
    text.endsWith('(') ||
    /(?:^|\s)[A-Z_][A-Z0-9_]*=\S*$/.test(text) ||
    /(?:^|\s)docker\s/.test(text)
  );
}

/** The words naming a command at the start of `tokens`; `ended`: punctuation closed the invocation. */
function leadingWords(tokens: readonly string[]): { words: string[]; ended: boolean } {
  const words: string[] = [];
  for (const token of tokens) {
    const match = WORD.exec(token);
    if (!match) break;
    words.push(match[1]!);
    if (match[2]) return { words, ended: true };
  }
  return { words, ended: false };
}

function commandFor(words: readonly string[]): CommandSpec | undefined {
  return [...COMMANDS]
    .sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)
    .find((command) => command.name.split(' ').every((word, i) => words[i] === word));
}

/**
 * The invocations in one line of code: `market-ingest dlq list [--limit N] | dlq replay ID… | --all`
 * is `dlq list` with --limit and `dlq replay` with --all. A `|` segment starting with a command
 * switches to it, one starting with a flag stays with the current command, any other (a shell
 * pipe) ends the invocation.
 */
function invocationsIn(text: string, where: string): Invocation[] {
  const found: Invocation[] = [];
  for (const match of text.matchAll(PROGRAM)) {
    if (!startsCommand(text.slice(0, match.index + match[0].indexOf('market-ingest')))) continue;
    // Up to the next command of the line (`&&`, `||`, another market-ingest).
    const rest = text.slice(match.index + match[0].length);
    const end = rest.search(/\s(?:&&|\|\|)\s|(?:^|[\s(`])market-ingest(?=\s|$)/);
    const segments = (end === -1 ? rest : rest.slice(0, end))
      .split(/\s\|\s/)
      .map((segment) => segment.trim().split(/\s+/).filter(Boolean));
    let current: Invocation | undefined;
    for (const [i, tokens] of segments.entries()) {
      const { words, ended } = leadingWords(tokens);
      if (i === 0 || (words.length > 0 && commandFor(words))) {
        current = { where, words, flags: [] };
        found.push(current);
      } else if (words.length > 0) break;
      const rest = tokens.slice(words.length).join(' ');
      if (!ended) current!.flags.push(...[...rest.matchAll(FLAG)].map((m) => m[1]!));
      if (ended) break;
    }
  }
  // A bare `market-ingest` names the program, not a command.
  return found.filter((invocation) => invocation.words.length > 0 || invocation.flags.length > 0);
}

/** Every invocation in a document; a block line starting with a flag continues the one above. */
function invocations(markdown: string, file: string): Invocation[] {
  const result: Invocation[] = [];
  let previous: Invocation | undefined;
  for (const { text, line, block } of codeLines(markdown)) {
    const where = `${file}:${line}`;
    const own = invocationsIn(text, where);
    if (own.length === 0 && block && previous && /^\s*\[?--/.test(text)) {
      previous.flags.push(...[...text.matchAll(FLAG)].map((m) => m[1]!));
      continue;
    }
    result.push(...own);
    previous = block ? own.at(-1) : undefined;
  }
  return result;
}

/** What the dispatcher answers to `market-ingest <argv>`: its exit code and output. */
async function run(argv: string[]): Promise<{ code: number; output: string }> {
  let output = '';
  const io: CliIo = {
    stdout: (t) => (output += t),
    stderr: (t) => (output += t),
    env: {},
    isTTY: false,
  };
  return { code: await dispatch(COMMANDS, argv, io), output };
}

/** The doc claims the dispatcher contradicts, one line each. */
async function problems(found: readonly Invocation[]): Promise<string[]> {
  const result: string[] = [];
  for (const { where, words, flags } of found) {
    if (words.length === 0) {
      // `market-ingest --help`, `--version`: options of the program itself; 2 is "unknown".
      for (const flag of flags) {
        if ((await run([`--${flag}`])).code === 2)
          result.push(`${where}: market-ingest --${flag} does not exist`);
      }
      continue;
    }
    const command = commandFor(words);
    if (!command) {
      result.push(`${where}: market-ingest ${words.slice(0, 2).join(' ')} is not a command`);
      continue;
    }
    const help = await run([...command.name.split(' '), '--help']);
    if (help.code !== 0) result.push(`${where}: market-ingest ${command.name} --help exits ${help.code}`);
    for (const flag of flags) {
      if (flag !== 'help' && !command.options?.[flag]) {
        result.push(`${where}: market-ingest ${command.name} has no --${flag}`);
      }
    }
  }
  return result;
}

describe('the user docs name only commands and flags that exist', () => {
  for (const file of DOCS) {
    it(`${file}: every market-ingest command and flag is in the dispatcher's commands`, async () => {
      const found = invocations(readFileSync(new URL(file, ROOT), 'utf8'), file);
      expect(found.length, `${file} names no command at all: is the extractor broken?`).toBeGreaterThan(0);
      expect(await problems(found)).toEqual([]);
    });
  }

  it('the checker reads alternations, continuation lines and inline code, and finds what does not exist', async () => {
    const text = [
      'Run `market-ingest pending --json` or `market-ingest dlq teleport 1-0`; `market-ingest` alone is the program.',
      '```sh',
      'market-ingest dlq list [--limit N] [--json] | dlq replay ID... | --all | dlq purge [--before ISO]',
      'market-ingest shops add --platform P --shop-id ID --access-token T',
      '                        [--name N] [--colour C]',
      'market-ingest pending --verbose | grep shop --count',
      'src/cli.ts   the market-ingest executable; docker run --rm -e PORT=1 market-ingest config --json',
      'npx market-ingest --help && npx market-ingest --frobnicate',
      '# shop tiktok:1 is not registered (market-ingest shops add)',
      '```',
    ].join('\n');
    const found = invocations(text, 'planted.md');
    expect(found.map((i) => [i.words.join(' '), i.flags.join(',')])).toEqual([
      ['pending', 'json'],
      ['dlq teleport', ''],
      ['dlq list', 'limit,json'],
      ['dlq replay', 'all'],
      ['dlq purge', 'before'],
      ['shops add', 'platform,shop-id,access-token,name,colour'],
      ['pending', 'verbose'],
      ['config', 'json'],
      ['', 'help'],
      ['', 'frobnicate'],
      ['shops add', ''],
    ]);
    expect(await problems(found)).toEqual([
      'planted.md:1: market-ingest dlq teleport is not a command',
      'planted.md:4: market-ingest shops add has no --colour',
      'planted.md:6: market-ingest pending has no --verbose',
      'planted.md:8: market-ingest --frobnicate does not exist',
    ]);
  });
});
