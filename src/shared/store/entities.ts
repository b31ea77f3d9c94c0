/**
 * The only writer of `orders`, `returns` and `products`.
 *
 * Two operations, both one round trip per call: which stored versions exist for a set of ids,
 * and a version-guarded unordered bulk upsert. The guard (`version < incoming`) in the upsert
 * filter means a stored document with a higher or equal version is never replaced; when it
 * exists, the upsert's insert collides on the unique index (E11000) — that is a lost race or a
 * replay, reported as `unchanged`, not an error.
 */
import {
  MongoBulkWriteError,
  type AnyBulkWriteOperation,
  type Db,
  type Document,
  type WriteError,
} from 'mongodb';

import { ENTITY_ID_FIELD, type EntityDocument } from '../documents.js';
import { AppError } from '../errors.js';
import type { DetailKind } from '../marketplaces/types.js';
import { COLLECTIONS } from '../mongo.js';
import type { Platform } from '../stream.js';

export const COLLECTION_OF_KIND: Readonly<Record<DetailKind, string>> = {
  order: COLLECTIONS.orders,
  return: COLLECTIONS.returns,
  product: COLLECTIONS.products,
};

const DUPLICATE_KEY = 11000;

/** Per document: written, or left alone (the stored version wins), or refused by MongoDB. */
export type WriteOutcome = 'inserted' | 'updated' | 'unchanged' | { failed: AppError };

export interface EntityStore {
  /** Stored `version` per entity id, for the ids that exist (one `$in` query with a projection). */
  findVersions(
    platform: Platform,
    shopId: string,
    kind: DetailKind,
    ids: readonly string[],
  ): Promise<Map<string, number>>;
  /**
   * Upserts documents of one kind in one unordered bulkWrite. Returns one outcome per document,
   * in input order. Throws a retryable AppError when MongoDB cannot be reached or fails for any
   * reason other than the version guard.
   */
  upsertMany(kind: DetailKind, documents: readonly EntityDocument[]): Promise<WriteOutcome[]>;
}

export function entityIdOf(kind: DetailKind, document: EntityDocument): string {
  return (document as unknown as Record<string, string>)[ENTITY_ID_FIELD[kind]]!;
}

export function createEntityStore({ db }: { db: Db }): EntityStore {
  return {
    async findVersions(platform, shopId, kind, ids) {
      const idField = ENTITY_ID_FIELD[kind];
      const versions = new Map<string, number>();
      if (ids.length === 0) return versions;
      const found = await mongoCall(() =>
        db
          .collection(COLLECTION_OF_KIND[kind])
          .find(
            { platform, shop_id: shopId, [idField]: { $in: [...ids] } },
            { projection: { _id: 0, [idField]: 1, version: 1 } },
          )
          .toArray(),
      );
      for (const doc of found) {
        const id = doc[idField] as unknown;
        if (typeof id === 'string') versions.set(id, typeof doc.version === 'number' ? doc.version : 0);
      }
      return versions;
    },

    async upsertMany(kind, documents) {
      if (documents.length === 0) return [];
      const idField = ENTITY_ID_FIELD[kind];
      const operations: AnyBulkWriteOperation<Document>[] = documents.map((document) => ({
        updateOne: {
          filter: {
            platform: document.platform,
            shop_id: document.shop_id,
            [idField]: entityIdOf(kind, document),
            version: { $lt: document.version },
          },
          update: { $set: document },
          upsert: true,
        },
      }));
      const outcomes: WriteOutcome[] = documents.map(() => 'updated');
      let upsertedIndexes: number[];
      try {
        const result = await db
          .collection(COLLECTION_OF_KIND[kind])
          .bulkWrite(operations, { ordered: false });
        upsertedIndexes = Object.keys(result.upsertedIds).map(Number);
      } catch (error) {
        if (!(error instanceof MongoBulkWriteError)) throw mongoError(error);
        // Only duplicate-key errors from the version guard mean "a newer version is stored".
        // A MongoBulkWriteError can also carry a network failure with no writeErrors at all:
        // then nothing is known to be written, and treating it as success would ack unwritten
        // entries (found by the "MongoDB unreachable mid-batch" test).
        const writeErrors = ([] as WriteError[]).concat(error.writeErrors ?? []);
        const onlyGuardCollisions =
          writeErrors.length > 0 &&
          writeErrors.every((e) => e.code === DUPLICATE_KEY) &&
          (error.code === undefined || error.code === DUPLICATE_KEY) &&
          error.result.getWriteConcernError() === undefined;
        if (!onlyGuardCollisions) throw mongoError(error);
        for (const writeError of writeErrors) outcomes[writeError.index] = 'unchanged';
        upsertedIndexes = Object.keys(error.result.upsertedIds).map(Number);
      }
      for (const index of upsertedIndexes) outcomes[index] = 'inserted';
      return outcomes;
    },
  };
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
  const message = error instanceof Error ? error.message : String(error);
  return new AppError('ERR_MONGO_UNAVAILABLE', `MongoDB write/read failed: ${message}`, { cause: error });
}
