/**
 * `data/services.json`: where the embedded Redis and MongoDB of a `market-ingest start` run.
 *
 * `start` writes it (atomically: a temporary file renamed over it) once its embedded servers are
 * up, and removes it on a clean shutdown. Every other command run from the same directory
 * with REDIS_URL / MONGO_URL unset uses the recorded servers while they answer, and says so on
 * stderr — so the README's next steps (`shops add`, `pending`, `dlq list`) reach the servers
 * `npm start` started, not the defaults. The file holds no secret: embedded servers have no
 * password, and URLs given to `start` are not recorded.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';

import { DEFAULT_MONGO_URL, DEFAULT_REDIS_URL, serverAddress } from '../shared/config.js';

/** Relative to the working directory, like everything `start` keeps. */
export const DATA_DIR = 'data';
const RECORD_FILE = 'services.json';

const embeddedServer = z.object({ url: z.string(), dataDir: z.string() });
const recordSchema = z.object({
  version: z.literal(1),
  /** The `start` process. */
  pid: z.number().int(),
  startedAt: z.string(),
  redis: embeddedServer.optional(),
  mongo: embeddedServer.optional(),
});

export type ServicesRecord = z.infer<typeof recordSchema>;
export type ServerKind = 'redis' | 'mongo';

const KINDS = {
  redis: { variable: 'REDIS_URL', name: 'Redis', fallback: DEFAULT_REDIS_URL },
  mongo: { variable: 'MONGO_URL', name: 'MongoDB', fallback: DEFAULT_MONGO_URL },
} as const satisfies Record<ServerKind, { variable: string; name: string; fallback: string }>;

export function recordPath(dataDir: string): string {
  return join(dataDir, RECORD_FILE);
}

export function writeServicesRecord(dataDir: string, record: ServicesRecord): void {
  mkdirSync(dataDir, { recursive: true });
  const path = recordPath(dataDir);
  // Readers never see half a file: write beside it, then rename (atomic within a filesystem).
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(temporary, path);
  } finally {
    rmSync(temporary, { force: true });
  }
}

export type RecordRead =
  { status: 'absent' } | { status: 'unreadable'; problem: string } | { status: 'ok'; record: ServicesRecord };

export function readServicesRecord(dataDir: string): RecordRead {
  const path = recordPath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'absent' };
    return { status: 'unreadable', problem: `${path} cannot be read (${(error as Error).message})` };
  }
  try {
    const parsed = recordSchema.safeParse(JSON.parse(text));
    if (parsed.success) return { status: 'ok', record: parsed.data };
  } catch {
    // not JSON: reported below like a wrong shape
  }
  return { status: 'unreadable', problem: `${path} is not a services record written by market-ingest start` };
}

/**
 * Removes the record of start process `pid` (a clean shutdown: its servers are gone, commands use
 * the defaults again, silently); a record another start wrote is left alone.
 */
export function removeServicesRecord(dataDir: string, pid: number): void {
  const read = readServicesRecord(dataDir);
  if (read.status === 'ok' && read.record.pid === pid) rmSync(recordPath(dataDir), { force: true });
}

export type Probe = (url: string) => Promise<boolean>;

/** A quick "does anything accept connections at this URL's host:port" (no protocol, no auth). */
export const tcpProbe: Probe = (url) => {
  const [host, port] = splitHostPort(serverAddress(url).split(',')[0] ?? '');
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, host);
  });
};

function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[|\]$/g, ''), Number(address.slice(at + 1))];
}

/** The record of another `start` in `dataDir` whose servers still answer. */
export async function runningStart(
  dataDir: string,
  probe: Probe = tcpProbe,
): Promise<ServicesRecord | undefined> {
  const read = readServicesRecord(dataDir);
  if (read.status !== 'ok') return undefined;
  const servers = [read.record.redis, read.record.mongo].filter((s) => s !== undefined);
  const answers = await Promise.all(servers.map((server) => probe(server.url)));
  return answers.some(Boolean) ? read.record : undefined;
}

export interface RecordedServers {
  /** Set only for a variable that is unset and whose recorded server answers. */
  redisUrl?: string;
  mongoUrl?: string;
  /** One line each, for stderr: which server a command uses, and why. */
  notes: string[];
}

/**
 * For each of REDIS_URL / MONGO_URL that is unset: the server a `start` in `dataDir` embedded,
 * when it answers; otherwise the default, with a note saying the recorded one is not running (that
 * start died without removing its record). No record: the defaults, silently (as documented).
 */
export async function findRecordedServers(options: {
  env: Record<string, string | undefined>;
  dataDir: string;
  probe?: Probe;
}): Promise<RecordedServers> {
  const unset = (Object.keys(KINDS) as ServerKind[]).filter(
    (kind) => !options.env[KINDS[kind].variable]?.trim(),
  );
  if (unset.length === 0) return { notes: [] };
  const read = readServicesRecord(options.dataDir);
  if (read.status === 'absent') return { notes: [] };
  if (read.status === 'unreadable') return { notes: [`${read.problem}; using the defaults`] };

  const found: RecordedServers = { notes: [] };
  const path = recordPath(options.dataDir);
  const used: string[] = [];
  for (const kind of unset) {
    const server = read.record[kind];
    if (!server) continue; // that start was given the URL: nothing recorded for it
    const { name, variable, fallback } = KINDS[kind];
    const address = serverAddress(server.url);
    if (await (options.probe ?? tcpProbe)(server.url)) {
      found[kind === 'redis' ? 'redisUrl' : 'mongoUrl'] = server.url;
      used.push(`${name} at ${address}`);
    } else {
      found.notes.push(
        `the embedded ${name} at ${address} recorded in ${path} is not running ` +
          `(market-ingest start, pid ${read.record.pid}, ended without a clean stop); ` +
          `using ${serverAddress(fallback)} (${variable} unset)`,
      );
    }
  }
  if (used.length > 0) {
    found.notes.unshift(`using the embedded ${used.join(' and ')} started by market-ingest start (${path})`);
  }
  return found;
}
