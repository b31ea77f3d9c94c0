/**
 * Packaging stays in step with the code: docker-compose.yml, .env.example, the Dockerfile and
 * .dockerignore are checked against the config schema (`VARIABLES`, src/shared/config.ts) and
 * against what the roles actually serve. Each checker returns readable problems; the tests
 * assert that the real files have none, and that each checker does find a planted problem (so a
 * checker that silently found nothing would fail here too).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { ConfigError, loadConfig, VARIABLES, type VariableSpec } from '../../src/shared/config.js';

const ROOT = new URL('../../', import.meta.url);
const readRepoFile = (name: string) => readFileSync(new URL(name, ROOT), 'utf8');

const SPECS = VARIABLES as readonly VariableSpec[];
const KNOWN = new Set(SPECS.map((spec) => spec.name));
const APP_ROLES = ['ingest', 'worker', 'reconcile'] as const;

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const recordOf = (value: unknown): Json => (isRecord(value) ? value : {});
const stringsOf = (value: unknown): string[] =>
  Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];

/** The problems a config would report, or [] when `env` is a valid configuration. */
function configProblems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

interface Compose {
  services: Record<string, Json>;
  text: string;
}

function parseCompose(text: string): Compose {
  // Compose files are YAML 1.2 with anchors; `merge` also resolves `<<:` keys the way compose does.
  const document = recordOf(parse(text, { merge: true }));
  return { services: recordOf(document.services) as Record<string, Json>, text };
}

/** A service runs our image when it is built from this repository or names the market-ingest image. */
function usesAppImage(service: Json): boolean {
  const image = typeof service.image === 'string' ? service.image : '';
  return service.build !== undefined || /(^|\/)market-ingest(:|@|$)/.test(image);
}

/** `environment:` as a map or as a list of `NAME=value` / `NAME` (values of a list may be absent). */
function environmentOf(service: Json): Record<string, string | undefined> {
  const environment = service.environment;
  const result: Record<string, string | undefined> = {};
  if (Array.isArray(environment)) {
    for (const item of environment.map(String)) {
      const at = item.indexOf('=');
      if (at === -1) result[item] = undefined;
      else result[item.slice(0, at)] = item.slice(at + 1);
    }
  } else if (isRecord(environment)) {
    for (const [name, value] of Object.entries(environment)) {
      // Compose takes scalars here; null (`NAME:` with no value) passes the variable through from the host.
      result[name] =
        typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : undefined;
    }
  }
  return result;
}

/**
 * Every environment variable name the compose file mentions: `environment:` keys of every
 * service, `${VAR}` / `$VAR` interpolations anywhere (`$$` is an escaped dollar), and
 * `process.env.VAR` in inline scripts such as healthchecks.
 */
function variableNamesIn(compose: Compose): Map<string, string> {
  const names = new Map<string, string>();
  for (const [serviceName, service] of Object.entries(compose.services)) {
    for (const name of Object.keys(environmentOf(service)))
      names.set(name, `services.${serviceName}.environment`);
  }
  for (const match of compose.text.matchAll(/(?<!\$)\$(?:\{([A-Za-z_]\w*)|([A-Za-z_]\w*))/g)) {
    names.set((match[1] ?? match[2])!, `interpolation ${match[0]}`);
  }
  for (const match of compose.text.matchAll(
    /process\.env(?:\.([A-Za-z_]\w*)|\[\s*['"]([A-Za-z_]\w*)['"]\s*\])/g,
  )) {
    names.set((match[1] ?? match[2])!, `inline script ${match[0]}`);
  }
  return names;
}

function healthcheckCommand(service: Json): string[] {
  return stringsOf(recordOf(service.healthcheck).test);
}

/** The `node -e` script of a healthcheck, or undefined when it is not one. */
function nodeScriptOf(command: readonly string[]): string | undefined {
  const at = command.indexOf('-e');
  return command[at - 1] === 'node' && at !== -1 ? command[at + 1] : undefined;
}

function composeProblems(compose: Compose): string[] {
  const problems: string[] = [];
  const { services } = compose;
  const names = Object.keys(services);
  if (names.length === 0) problems.push('no services');

  for (const [name, where] of variableNamesIn(compose)) {
    if (!KNOWN.has(name)) problems.push(`${where} names ${name}, which the config schema does not know`);
  }

  const infrastructure = names.filter((name) => !usesAppImage(services[name]!));
  for (const [name, service] of Object.entries(services)) {
    const healthcheck = recordOf(service.healthcheck);
    const test = healthcheckCommand(service);
    if (healthcheck.disable === true || test.length === 0 || test[0] === 'NONE') {
      problems.push(`service ${name} has no healthcheck`);
    }
    if (!usesAppImage(service)) continue;

    const dependsOn = service.depends_on;
    if (!isRecord(dependsOn)) {
      problems.push(
        `service ${name} uses the app image but has no depends_on with condition: service_healthy`,
      );
    } else {
      for (const dependency of infrastructure) {
        if (recordOf(dependsOn[dependency]).condition !== 'service_healthy') {
          problems.push(`service ${name} does not depend on ${dependency} with condition: service_healthy`);
        }
      }
      for (const [dependency, spec] of Object.entries(dependsOn)) {
        if (recordOf(spec).condition !== 'service_healthy') {
          problems.push(`service ${name}: depends_on ${dependency} lacks condition: service_healthy`);
        }
      }
    }
    if (!['on-failure', 'unless-stopped', 'always'].includes(String(service.restart))) {
      problems.push(`service ${name} does not restart on failure (restart: ${String(service.restart)})`);
    }
  }
  return problems;
}

describe('docker-compose.yml', () => {
  const compose = parseCompose(readRepoFile('docker-compose.yml'));
  const { services } = compose;

  it('names only variables of the config schema, has healthchecks, and waits for healthy Redis and MongoDB', () => {
    expect(composeProblems(compose)).toEqual([]);
  });

  it('the checker finds unknown variables, missing healthchecks and missing depends_on', () => {
    const bad = parseCompose(`
services:
  redis: { image: 'redis:7' }
  app:
    build: .
    environment: ['REDIS_URL=redis://redis:6379', 'REDIS_HOST=redis']
    ports: ['\${INGEST_PORT:-8080}:8080']
    depends_on: [redis]
    healthcheck: { test: ['CMD', 'node', '-e', 'process.exit(process.env.HEALTH_PORT ? 0 : 1)'] }
  other:
    image: market-ingest:local
    restart: 'no'
    healthcheck: { test: ['CMD', 'true'] }
    depends_on: { redis: { condition: service_started } }
`);
    expect(composeProblems(bad)).toEqual([
      'services.app.environment names REDIS_HOST, which the config schema does not know',
      'interpolation ${INGEST_PORT names INGEST_PORT, which the config schema does not know',
      'inline script process.env.HEALTH_PORT names HEALTH_PORT, which the config schema does not know',
      'service redis has no healthcheck',
      'service app uses the app image but has no depends_on with condition: service_healthy',
      'service app does not restart on failure (restart: undefined)',
      'service other does not depend on redis with condition: service_healthy',
      'service other: depends_on redis lacks condition: service_healthy',
      'service other does not restart on failure (restart: no)',
    ]);
  });

  it('runs Redis 7 with AOF (appendonly yes, appendfsync everysec) on a volume, and MongoDB 7 on a volume', () => {
    const redis = services.redis!;
    expect(String(redis.image)).toMatch(/^redis:7(\.|-|$)/);
    const command = stringsOf(redis.command).join(' ');
    expect(command).toMatch(/--appendonly yes\b/);
    expect(command).toMatch(/--appendfsync everysec\b/);
    expect(stringsOf(redis.volumes).some((v) => /^[\w-]+:\/data$/.test(v))).toBe(true);

    const mongo = services.mongo!;
    expect(String(mongo.image)).toMatch(/^mongo:7(\.|-|$)/);
    expect(stringsOf(mongo.volumes).some((v) => /^[\w-]+:\/data\/db$/.test(v))).toBe(true);
  });

  it('runs ingest (port 8080), 2 workers and reconcile from the app image, each with its role', () => {
    for (const role of APP_ROLES) {
      const service = services[role];
      expect(service, `service ${role}`).toBeDefined();
      expect(usesAppImage(service!)).toBe(true);
      expect(stringsOf(service!.command)).toEqual([role]);
    }
    expect(stringsOf(services.ingest!.ports)).toContain('8080:8080');
    expect(recordOf(services.worker!.deploy).replicas).toBe(2);
    // One name shared by two replicas would make them one consumer of the group.
    expect(environmentOf(services.worker!).CONSUMER_NAME).toBeUndefined();
  });

  it('gives every app service a valid configuration with Redis and MongoDB on the compose services, and .env', () => {
    for (const role of APP_ROLES) {
      const service = services[role]!;
      const env = environmentOf(service);
      expect(new URL(env.REDIS_URL ?? '').hostname, `${role} REDIS_URL`).toBe('redis');
      expect(new URL(env.MONGO_URL ?? '').hostname, `${role} MONGO_URL`).toBe('mongo');
      const defined = Object.fromEntries(
        Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
      );
      expect(configProblems(defined), role).toEqual([]);
      const envFiles = (Array.isArray(service.env_file) ? service.env_file : [service.env_file]).map(
        (file) => (isRecord(file) ? String(file.path) : String(file)),
      );
      expect(envFiles, `${role} env_file`).toContain('.env');
    }
  });

  it('points each app healthcheck at the port that role listens on (ingest PORT, others METRICS_PORT)', () => {
    for (const role of APP_ROLES) {
      const env = environmentOf(services[role]!);
      const script = nodeScriptOf(healthcheckCommand(services[role]!)) ?? '';
      const target = /http:\/\/127\.0\.0\.1:(\d+)(\/\w+)/.exec(script);
      expect(target, `${role} healthcheck fetches a local URL`).not.toBeNull();
      const [, port, path] = target!;
      if (role === 'ingest') {
        expect([port, path]).toEqual([env.PORT ?? '8080', '/healthz']);
      } else {
        expect(env.METRICS_PORT, `${role} sets METRICS_PORT`).toBeDefined();
        expect([port, path]).toEqual([env.METRICS_PORT, '/metrics']);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// .env.example

interface EnvExample {
  /** In file order. */
  assignments: { name: string; value: string; line: number; commented: boolean }[];
  problems: string[];
}

/**
 * Reads the file as `docker run --env-file` does (docker/cli opts/envfile.go): leading
 * whitespace dropped, `#` lines and blank lines skipped, the value is everything after the first
 * `=`, verbatim — quotes and trailing spaces stay part of it (compose's env_file would strip them).
 */
function parseEnvExample(text: string): EnvExample {
  const assignments: EnvExample['assignments'] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!match) {
      problems.push(`line ${index + 1} is neither a comment nor NAME=value: ${line}`);
      return;
    }
    const [, name, value] = match as unknown as [string, string, string];
    const previous = lines[index - 1]?.trim() ?? '';
    assignments.push({
      name,
      value,
      line: index + 1,
      commented: previous.startsWith('#') && previous.length > 1,
    });
  });
  return { assignments, problems };
}

function envExampleProblems(text: string): string[] {
  const { assignments, problems } = parseEnvExample(text);
  const seen = new Set<string>();
  for (const { name, value, line, commented } of assignments) {
    const spec = SPECS.find((s) => s.name === name);
    if (seen.has(name)) problems.push(`${name} is listed twice (line ${line})`);
    seen.add(name);
    if (!spec) {
      problems.push(`${name} (line ${line}) is not a variable of the config schema`);
      continue;
    }
    if (!commented) problems.push(`${name} (line ${line}) has no comment line above it`);
    // What the service receives from `docker run --env-file` must pass the schema as it stands.
    const parsed = value.trim() === '' ? undefined : spec.schema.safeParse(value);
    if (parsed && !parsed.success) {
      const quoted = /^(["']).*\1$/.test(value) ? ' (docker run --env-file keeps the quotes)' : '';
      problems.push(`${name}=${value} ${parsed.error.issues[0]?.message ?? 'is invalid'}${quoted}`);
    }
    if (spec.secret && value !== '') problems.push(`${name} is a secret and must be left empty`);
    else if (spec.default !== undefined && value !== spec.default) {
      problems.push(`${name}=${value} does not show the default ${spec.default}`);
    } else if (spec.default === undefined && value !== '') {
      problems.push(`${name} has no default and must be left empty (got ${value})`);
    }
  }
  for (const spec of SPECS) {
    if (!seen.has(spec.name)) problems.push(`${spec.name} is missing`);
  }
  return problems;
}

describe('.env.example', () => {
  const text = readRepoFile('.env.example');

  it('lists exactly the variables of the config schema, each commented, defaults shown, secrets empty', () => {
    expect(envExampleProblems(text)).toEqual([]);
    expect(
      parseEnvExample(text)
        .assignments.map((a) => a.name)
        .sort(),
    ).toEqual([...KNOWN].sort());
  });

  it('issue 12 #3: every value parses with the config schema exactly as `docker run --env-file` passes it (no quote stripping)', () => {
    const { assignments } = parseEnvExample(text);
    const invalid = assignments.filter(({ name, value }) => {
      const spec = SPECS.find((s) => s.name === name);
      return spec !== undefined && value.trim() !== '' && !spec.schema.safeParse(value).success;
    });
    expect(invalid.map(({ name, value }) => `${name}=${value}`)).toEqual([]);
  });

  it('is a valid configuration as it stands', () => {
    const env = Object.fromEntries(parseEnvExample(text).assignments.map((a) => [a.name, a.value]));
    expect(configProblems(env)).toEqual([]);
  });

  it('the checker finds missing, unknown, duplicate, uncommented and wrong entries', () => {
    const problems = envExampleProblems(
      [
        '# the database',
        'MONGO_DB=other',
        '# a secret',
        'TIKTOK_APP_SECRET=s3cret',
        'PORT=8080',
        '# not ours',
        'REDIS_HOST=localhost',
        '# twice',
        'PORT=8080',
        'export LOG_LEVEL=info',
        '# quoted, as a shell would want it',
        'RECONCILE_CRON="0 */6 * * *"',
      ].join('\n'),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'line 10 is neither a comment nor NAME=value: export LOG_LEVEL=info',
        'RECONCILE_CRON="0 */6 * * *" must be a cron expression such as "0 */6 * * *" (docker run --env-file keeps the quotes)',
        'MONGO_DB=other does not show the default market_ingest',
        'TIKTOK_APP_SECRET is a secret and must be left empty',
        'PORT (line 5) has no comment line above it',
        'REDIS_HOST (line 7) is not a variable of the config schema',
        'PORT is listed twice (line 9)',
        'REDIS_URL is missing',
        'TOKEN_ENCRYPTION_KEY is missing',
      ]),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions per build stage (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  const logical = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: args.trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    stages[stages.length - 1]?.push(instruction);
  }
  return stages;
}

/** An exec-form (JSON array) argument list; undefined for shell form. */
function execForm(args: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) ? value.map(String) : undefined;
  } catch {
    return undefined;
  }
}

function dockerfileProblems(text: string): string[] {
  const problems: string[] = [];
  const stages = parseDockerfile(text);
  if (stages.length < 2) problems.push('not a multi-stage build');
  const build = stages[0] ?? [];
  const runtime = stages[stages.length - 1] ?? [];
  const all = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword);
  const last = (stage: Instruction[], keyword: string) => all(stage, keyword).at(-1);

  const buildFrom = build[0]?.args ?? '';
  if (!/^node:20-bookworm-slim\s+AS\s+(\S+)$/i.test(buildFrom)) {
    problems.push(`the build stage is not "FROM node:20-bookworm-slim AS <name>" (${buildFrom})`);
  }
  const buildName = /\s+AS\s+(\S+)$/i.exec(buildFrom)?.[1] ?? '';
  if (!all(build, 'RUN').some((i) => /\bnpm ci\b/.test(i.args)))
    problems.push('the build stage does not run npm ci');
  if (!all(build, 'RUN').some((i) => /\bnpm run build\b/.test(i.args))) {
    problems.push('the build stage does not run npm run build');
  }

  if (!/^node:20-bookworm-slim(\s|$)/.test(runtime[0]?.args ?? '')) {
    problems.push('the runtime stage is not FROM node:20-bookworm-slim');
  }
  const install = all(runtime, 'RUN').find((i) => /\bnpm ci\b/.test(i.args));
  if (!install || !/--omit=dev\b/.test(install.args))
    problems.push('the runtime stage does not run npm ci --omit=dev');
  // `prepare` runs tsc, a dev dependency: without --ignore-scripts the production install fails.
  if (install && !/--ignore-scripts\b/.test(install.args)) {
    problems.push('the runtime npm ci does not pass --ignore-scripts (prepare needs tsc)');
  }
  if (!all(runtime, 'COPY').some((i) => new RegExp(`--from=${buildName}\\b.*\\bdist\\b`).test(i.args))) {
    problems.push(`the runtime stage does not copy dist/ from the ${buildName || 'build'} stage`);
  }

  const user = last(runtime, 'USER')?.args.split(':')[0];
  if (user === undefined || user === '' || user === 'root' || user === '0') {
    problems.push(`the runtime stage runs as root (USER ${user ?? 'unset'})`);
  }
  const healthcheck = last(runtime, 'HEALTHCHECK');
  if (!healthcheck || /^NONE\b/i.test(healthcheck.args)) problems.push('no HEALTHCHECK');
  else if (!healthcheck.args.includes('/healthz')) problems.push('the HEALTHCHECK does not ask /healthz');
  const entrypoint = execForm(last(runtime, 'ENTRYPOINT')?.args ?? '');
  if (JSON.stringify(entrypoint) !== JSON.stringify(['node', 'dist/cli.js'])) {
    problems.push(`ENTRYPOINT is not ["node", "dist/cli.js"] (${JSON.stringify(entrypoint)})`);
  }
  const cmd = execForm(last(runtime, 'CMD')?.args ?? '');
  if (JSON.stringify(cmd) !== JSON.stringify(['start']))
    problems.push(`CMD is not ["start"] (${JSON.stringify(cmd)})`);
  if (!all(runtime, 'EXPOSE').some((i) => i.args.split(/\s+/).includes('8080')))
    problems.push('port 8080 not exposed');
  return problems;
}

/** The HEALTHCHECK's `node -e` script. */
function dockerHealthScript(text: string): string | undefined {
  const stages = parseDockerfile(text);
  const healthcheck = stages[stages.length - 1]?.filter((i) => i.keyword === 'HEALTHCHECK').at(-1);
  const command = /\bCMD\s+(\[.*\])$/.exec(healthcheck?.args ?? '')?.[1];
  return command ? nodeScriptOf(execForm(command) ?? []) : undefined;
}

/** Whether `path` is left out of the build context by .dockerignore (last matching rule wins). */
function dockerIgnores(rules: string, path: string): boolean {
  let ignored = false;
  for (const raw of rules.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    const regex = new RegExp(
      `^${pattern
        .split('**')
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('.*')}$`,
    );
    // A rule matching a parent directory applies to everything under it.
    const parts = path.split('/');
    const matches = parts.some((_, i) => regex.test(parts.slice(0, i + 1).join('/')));
    if (matches) ignored = !negated;
  }
  return ignored;
}

describe('Dockerfile', () => {
  const text = readRepoFile('Dockerfile');

  it('builds in stages and runs as a non-root user, with a HEALTHCHECK, npm ci --omit=dev and node dist/cli.js', () => {
    expect(dockerfileProblems(text)).toEqual([]);
  });

  it('the checker finds a single-stage root image without healthcheck', () => {
    const problems = dockerfileProblems(
      [
        'FROM node:20',
        'WORKDIR /app',
        'COPY . .',
        'RUN npm install',
        'CMD ["node", "dist/cli.js", "start"]',
      ].join('\n'),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'not a multi-stage build',
        'the runtime stage does not run npm ci --omit=dev',
        'the runtime stage runs as root (USER unset)',
        'no HEALTHCHECK',
        'ENTRYPOINT is not ["node", "dist/cli.js"] (undefined)',
      ]),
    );
  });

  it('keeps secrets and local state out of the build context, and the sources in', () => {
    const rules = readRepoFile('.dockerignore');
    for (const path of [
      '.env',
      'node_modules/pino/package.json',
      'dist/cli.js',
      'data/redis/appendonly.aof',
      '.git/HEAD',
    ]) {
      expect(dockerIgnores(rules, path), `${path} is excluded`).toBe(true);
    }
    for (const path of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/cli.ts',
    ]) {
      expect(dockerIgnores(rules, path), `${path} is included`).toBe(false);
    }
    expect(dockerIgnores('*\n!src', 'src/shared/config.ts')).toBe(false);
    expect(dockerIgnores('*\n!src', '.env')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The healthcheck scripts, run for real against a local HTTP server.

function runNode(script: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 10_000,
    });
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

describe('healthcheck scripts', () => {
  let server: Server;
  let port: string;
  let closedPort: string;
  const answers = new Map<string, number>();

  beforeAll(async () => {
    server = createServer((request, response) => {
      response.writeHead(answers.get(request.url ?? '') ?? 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = String((server.address() as AddressInfo).port);
    // A port nothing listens on: bind, note it, close.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = String((probe.address() as AddressInfo).port);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("the image's check passes on ingest's /healthz or a worker's /metrics, and fails when neither answers", async () => {
    const script = dockerHealthScript(readRepoFile('Dockerfile'));
    expect(script).toBeDefined();

    answers.clear();
    answers.set('/healthz', 200);
    expect(await runNode(script!, { PORT: port })).toBe(0); // ingest, start

    answers.clear();
    answers.set('/metrics', 200);
    expect(await runNode(script!, { PORT: closedPort, METRICS_PORT: port })).toBe(0); // worker, reconcile
    expect(await runNode(script!, { PORT: closedPort })).toBe(1); // worker without METRICS_PORT

    answers.clear();
    answers.set('/healthz', 503);
    expect(await runNode(script!, { PORT: port })).toBe(1);
  });

  it("each compose app service's check passes when its endpoint answers and fails when it does not", async () => {
    const { services } = parseCompose(readRepoFile('docker-compose.yml'));
    for (const role of APP_ROLES) {
      const script = nodeScriptOf(healthcheckCommand(services[role]!));
      expect(script, `${role} healthcheck is a node -e script`).toBeDefined();
      const path = /127\.0\.0\.1:\d+(\/\w+)/.exec(script!)?.[1] ?? '';
      const local = script!.replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${port}`);

      answers.clear();
      answers.set(path, 200);
      expect(await runNode(local, {}), `${role} healthy`).toBe(0);
      answers.clear();
      expect(await runNode(local, {}), `${role} endpoint missing`).toBe(1);
      expect(
        await runNode(script!.replace(/127\.0\.0\.1:\d+/g, `127.0.0.1:${closedPort}`), {}),
        `${role} down`,
      ).toBe(1);
    }
  });
});
