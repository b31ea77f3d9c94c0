/**
 * The only writer of the entity collections (`orders`, `returns`, `products`, `settlements`,
 * `tracking`: KIND_STORAGE).
 *
 * Two operations: which stored versions exist for a set of ids (one query), and a
 * version-guarded unordered bulk upsert (one round trip; two when upserts collided).
 *
 * The guard (`replaceableBy`) in each upsert's filter lets only a newer document replace the
 * stored one. When the filter matches nothing the upsert inserts, and that insert fails with
 * E11000 on the unique index when the entity exists: either its stored version is not older
 * than ours, or another writer inserted it between our query and our insert. MongoDB retries
 * the latter itself only for filters that are equality on the unique key, which ours is not, so
 * an E11000 is never taken as an answer: it proves the document exists (the service never
 * deletes one), and the collided upserts are sent once more. Then a match means ours is newer
 * (`updated`) and a second E11000 that the stored document stays (`unchanged`).
 */
import {
  BSON,
  MongoBulkWriteError,
  type BulkWriteResult,
  type Collection,
  type Db,
  type Document,
  type Filter,
  type UpdateOneModel,
  type WriteError,
} from 'mongodb';

import { ENTITY_ID_FIELD, KIND_STORAGE, type EntityDocument } from '../documents.js';
import { AppError, messageOf } from '../errors.js';
import type { DetailKind, Platform } from '../stream.js';
import { contentHash } from './content-hash.js';

export const COLLECTION_OF_KIND: Readonly<Record<DetailKind, string>> = Object.fromEntries(
  Object.entries(KIND_STORAGE).map(([kind, storage]) => [kind, storage.collection]),
) as Record<DetailKind, string>;

const DUPLICATE_KEY = 11000;

/** mongod's maxBsonObjectSize: the driver refuses a whole bulkWrite holding a bigger statement. */
const MAX_STATEMENT_BYTES = 16 * 1024 * 1024;

/**
 * Write errors caused by the server's state, not by the document (a step-down, a shutdown, an
 * interruption, a write conflict, a time limit): the same write can succeed later.
 */
const TRANSIENT_WRITE_ERRORS: ReadonlySet<number> = new Set([
  6, 7, 24, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11601, 11602, 13435, 13436,
]);

/** Per document: written, or left alone (the stored version wins), or refused by MongoDB. */
export type WriteOutcome = 'inserted' | 'updated' | 'unchanged' | { failed: AppError };

/**
 * What is stored of one entity id. A kind may keep several documents per id (tracking: one per
 * package of an order): the entity is as old as its oldest document and final only when all are.
 */
export interface StoredEntity {
  version: number;
  /** Every document has the kind's finalField set (KIND_STORAGE); false for kinds without one. */
  final: boolean;
}

export interface EntityStore {
  /**
   * Stored version and finality per entity id, for the ids that exist (one `$in` query with a
   * projection): what the worker decides to fetch from.
   */
  findStored(
    platform: Platform,
    shopId: string,
    kind: DetailKind,
    ids: readonly string[],
  ): Promise<Map<string, StoredEntity>>;
  /**
   * Upserts documents of one kind in one unordered bulkWrite (and a second one for upserts that
   * collided on the unique index). Returns one outcome per document, in input order: a document
   * MongoDB refuses (too large, invalid) fails alone with ERR_MONGO_REJECTED. Throws
   * ERR_MONGO_UNAVAILABLE (retryable) when MongoDB cannot be reached or the server failed
   * (network, write concern, step-down): then nothing is known about any document.
   */
  upsertMany(kind: DetailKind, documents: readonly EntityDocument[]): Promise<WriteOutcome[]>;
}

export function entityIdOf(kind: DetailKind, document: EntityDocument): string {
  return (document as unknown as Record<string, string>)[ENTITY_ID_FIELD[kind]]!;
}

export function createEntityStore({ db }: { db: Db }): EntityStore {
  const findStored: EntityStore['findStored'] = async (platform, shopId, kind, ids) => {
    const { idField, finalField } = KIND_STORAGE[kind];
    const stored = new Map<string, StoredEntity>();
    if (ids.length === 0) return stored;
    const projection: Document = { _id: 0, [idField]: 1, version: 1 };
    if (finalField) projection[finalField] = 1;
    const found = await mongoCall(() =>
      db
        .collection(COLLECTION_OF_KIND[kind])
        .find({ platform, shop_id: shopId, [idField]: { $in: [...ids] } }, { projection })
        .toArray(),
    );
    for (const doc of found) {
      const id = doc[idField] as unknown;
      if (typeof id !== 'string') continue;
      const version = typeof doc.version === 'number' ? doc.version : 0;
      const final = finalField !== undefined && doc[finalField] === true;
      const previous = stored.get(id);
      stored.set(
        id,
        previous
          ? { version: Math.min(previous.version, version), final: previous.final && final }
          : { version, final },
      );
    }
    return stored;
  };

  return {
    findStored,

    async upsertMany(kind, documents) {
      const collection = db.collection(COLLECTION_OF_KIND[kind]);
      const outcomes: WriteOutcome[] = new Array<WriteOutcome>(documents.length);
      const pending: PendingUpsert[] = [];
      documents.forEach((document, index) => {
        const upsert = guardedUpsert(kind, document);
        const bytes = statementBytes(upsert);
        if (bytes < MAX_STATEMENT_BYTES) pending.push({ index, upsert });
        else outcomes[index] = { failed: tooLarge(bytes) };
      });
      // At most two rounds: an E11000 in the first proves the document exists (see the header).
      const first = await upsertRound(collection, pending);
      const collided = pending.filter((_, i) => first[i] === 'collided');
      const second = await upsertRound(collection, collided);
      pending.forEach(({ index }, i) => (outcomes[index] = outcomeOf(first[i]!)));
      collided.forEach(({ index }, i) => (outcomes[index] = outcomeOf(second[i]!)));
      return outcomes;
    },
  };
}

/** What one upsert did in one round. */
type RoundResult = 'inserted' | 'matched' | 'collided' | { failed: AppError };

interface PendingUpsert {
  /** Position in the caller's documents. */
  index: number;
  upsert: UpdateOneModel<Document>;
}

function guardedUpsert(kind: DetailKind, document: EntityDocument): UpdateOneModel<Document> {
  const fields = document as unknown as Record<string, unknown>;
  const key: Record<string, unknown> = { platform: document.platform, shop_id: document.shop_id };
  for (const field of KIND_STORAGE[kind].keyFields) key[field] = fields[field];
  const stored = { ...document, content_hash: contentHash(document) };
  return { filter: { ...key, ...replaceableBy(stored) }, update: { $set: stored }, upsert: true };
}

/**
 * The write guard: matches a stored document only when `document` may replace it — the stored
 * version is older, or equal with other content fetched earlier (the later fetch wins; the same
 * content writes nothing, so it notifies nothing). The one place that says what "newer" means.
 * Documents written before content hashes existed have neither field: they count as different
 * and earlier. (No equality on unique-key fields here: those come from the key.)
 */
function replaceableBy(document: EntityDocument & { content_hash: string }): Filter<Document> {
  return {
    $or: [
      { version: { $lt: document.version } },
      {
        version: document.version,
        content_hash: { $ne: document.content_hash },
        $or: [
          { details_fetched_ms: { $lt: document.details_fetched_ms } },
          { details_fetched_ms: { $exists: false } },
        ],
      },
    ],
  };
}

/** Size of the update statement as the driver serialises it (`{q, u, upsert}`). */
function statementBytes(upsert: UpdateOneModel<Document>): number {
  return BSON.calculateObjectSize(
    { q: upsert.filter, u: upsert.update, upsert: true },
    { ignoreUndefined: false },
  );
}

/** One unordered bulkWrite; per upsert what it did. Throws when MongoDB itself failed. */
async function upsertRound(
  collection: Collection,
  pending: readonly PendingUpsert[],
): Promise<RoundResult[]> {
  if (pending.length === 0) return [];
  let result: BulkWriteResult;
  let writeErrors: WriteError[] = [];
  try {
    result = await collection.bulkWrite(
      pending.map(({ upsert }) => ({ updateOne: upsert })),
      { ordered: false },
    );
  } catch (error) {
    ({ result, writeErrors } = documentWriteErrors(error));
  }
  const results: RoundResult[] = pending.map(() => 'matched');
  for (const index of Object.keys(result.upsertedIds).map(Number)) results[index] = 'inserted';
  for (const writeError of writeErrors) {
    results[writeError.index] =
      writeError.code === DUPLICATE_KEY ? 'collided' : { failed: rejected(writeError) };
  }
  return results;
}

/**
 * The per-document write errors of a failed bulkWrite, when that is all that failed. Anything
 * else means MongoDB could not do the work and throws ERR_MONGO_UNAVAILABLE.
 */
function documentWriteErrors(error: unknown): { result: BulkWriteResult; writeErrors: WriteError[] } {
  if (!(error instanceof MongoBulkWriteError)) throw mongoError(error);
  // A MongoBulkWriteError also carries network failures, with no writeErrors at all: then
  // nothing is known to be written, and taking it for success would ack unwritten entries
  // (found by the "MongoDB unreachable mid-batch" test).
  const writeErrors = ([] as WriteError[]).concat(error.writeErrors ?? []);
  const serverFailed =
    writeErrors.length === 0 ||
    error.result.getWriteConcernError() !== undefined ||
    writeErrors.some((e) => TRANSIENT_WRITE_ERRORS.has(e.code));
  if (serverFailed) throw mongoError(error);
  return { result: error.result, writeErrors };
}

/** A round's result as the caller sees it; a collision is final only in the second round. */
function outcomeOf(result: RoundResult): WriteOutcome {
  if (result === 'matched') return 'updated';
  if (result === 'collided') return 'unchanged';
  return result;
}

// No `cause`: a WriteError holds the whole operation, personal data included.
function rejected(writeError: WriteError): AppError {
  return new AppError('ERR_MONGO_REJECTED', `MongoDB refused the document: ${writeError.errmsg ?? ''}`, {
    details: { mongoCode: writeError.code },
  });
}

function tooLarge(bytes: number): AppError {
  return new AppError(
    'ERR_MONGO_REJECTED',
    `document too large for MongoDB: ${bytes} bytes, the limit is ${MAX_STATEMENT_BYTES}`,
    { details: { bytes } },
  );
}

async function mongoCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw mongoError(error);
  }
}

/** Every MongoDB failure here is worth retrying later; the delivery limit bounds the retries. */
function mongoError(error: unknown): AppError {
  const message = messageOf(error);
  return new AppError('ERR_MONGO_UNAVAILABLE', `MongoDB write/read failed: ${message}`, { cause: error });
}
