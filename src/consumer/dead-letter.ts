/**
 * Dead-lettering: an entry that cannot succeed (or failed MAX_DELIVERIES times) is recorded in
 * `sync_failures`, copied to DEAD_LETTER_STREAM_KEY with the CONTRACT §4 extra fields, and acked —
 * the XADD and the XACK in one MULTI, so an entry is never acked without its dead letter.
 * If MongoDB is down the whole step fails and the entry stays pending: nothing is lost.
 */
import type { Db } from 'mongodb';

import type { Config } from '../shared/config.js';
import type { AppError } from '../shared/errors.js';
import { COLLECTIONS } from '../shared/mongo.js';
import type { Redis } from '../shared/redis.js';
import { encodeDeadLetterInfo, fieldsToRecord } from '../shared/stream.js';
import type { BatchEntry } from './process-batch.js';

export interface DeadLetter {
  entry: BatchEntry;
  error: AppError;
}

export interface DeadLetterWriterDeps {
  redis: Redis;
  db: Db;
  config: Pick<Config, 'streamKey' | 'consumerGroup' | 'deadLetterStreamKey'>;
  now?: () => Date;
}

export function createDeadLetterWriter(deps: DeadLetterWriterDeps) {
  const now = deps.now ?? (() => new Date());
  const { streamKey, consumerGroup, deadLetterStreamKey } = deps.config;

  return async function deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const failedAt = now();
    const failures = letters.map(({ entry, error }) => {
      const fields = fieldsToRecord(entry.fields);
      return {
        platform: fields.platform ?? null,
        shop_id: fields.shop_id ?? null,
        kind: fields.kind ?? null,
        entity_id: fields.entity_id ?? null,
        event_id: fields.event_id ?? null,
        stream_id: entry.id,
        deliveries: entry.deliveries,
        error: { code: error.code, message: error.message },
        payload: fields.payload ?? null,
        failed_at: failedAt,
      };
    });
    await deps.db.collection(COLLECTIONS.syncFailures).insertMany(failures, { ordered: false });

    const multi = deps.redis.multi();
    for (const { entry, error } of letters) {
      multi.xadd(
        deadLetterStreamKey,
        '*',
        ...entry.fields,
        ...encodeDeadLetterInfo({
          original_id: entry.id,
          deliveries: entry.deliveries,
          error_code: error.code,
          error_message: error.message,
          dead_at: failedAt.getTime(),
        }),
      );
    }
    multi.xack(streamKey, consumerGroup, ...letters.map((l) => l.entry.id));
    const results = await multi.exec();
    const failed = results?.find(([error]) => error);
    if (!results || failed) throw failed?.[0] ?? new Error('dead-letter transaction aborted');
  };
}

export type DeadLetterWriter = ReturnType<typeof createDeadLetterWriter>;
