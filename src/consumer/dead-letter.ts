/**
 * Dead letters: an entry that cannot succeed is recorded in `sync_failures` (MongoDB), then
 * copied to DEAD_LETTER_STREAM_KEY with the CONTRACT §4 extra fields and acked — the XADD and the
 * XACK in one script (group.ts `settle`), so an entry is never acked without its dead letter.
 * If MongoDB is down, recording fails and the worker holds the entry: nothing is lost.
 *
 * Entries found deleted from the stream before they were processed (trimmed, XDEL) have no
 * fields left to dead-letter; they are recorded here with ERR_STREAM_TRIMMED, by stream id.
 */
import type { Db } from 'mongodb';

import { AppError } from '../shared/errors.js';
import { COLLECTIONS } from '../shared/mongo.js';
import { decodeRetryState, encodeDeadLetterInfo, fieldsToRecord } from '../shared/stream.js';
import type { BatchEntry } from './group.js';

export interface DeadLetter {
  entry: BatchEntry;
  error: AppError;
}

export interface FailureRecorder {
  /** One `sync_failures` document per dead letter. Throws when MongoDB refuses. */
  record(letters: readonly DeadLetter[]): Promise<void>;
  /** One `sync_failures` document per pending id whose entry was deleted from the stream. */
  recordDeleted(streamIds: readonly string[]): Promise<void>;
}

export function createFailureRecorder(deps: { db: Db; now?: () => Date }): FailureRecorder {
  const now = deps.now ?? (() => new Date());
  const failures = () => deps.db.collection(COLLECTIONS.syncFailures);
  return {
    async record(letters) {
      if (letters.length === 0) return;
      const failedAt = now();
      const documents = letters.map(({ entry, error }) => {
        const fields = fieldsToRecord(entry.fields);
        const retry = decodeRetryState(entry.fields, entry.id);
        return {
          platform: fields.platform ?? null,
          shop_id: fields.shop_id ?? null,
          kind: fields.kind ?? null,
          entity_id: fields.entity_id ?? null,
          event_id: fields.event_id ?? null,
          stream_id: entry.id,
          first_stream_id: retry.retry_of,
          deliveries: entry.deliveries,
          attempts: retry.attempts,
          error: { code: error.code, message: error.message },
          payload: fields.payload ?? null,
          failed_at: failedAt,
        };
      });
      await failures().insertMany(documents, { ordered: false });
    },

    async recordDeleted(streamIds) {
      if (streamIds.length === 0) return;
      const failedAt = now();
      await failures().insertMany(
        streamIds.map((id) => ({
          platform: null,
          shop_id: null,
          kind: null,
          entity_id: null,
          event_id: null,
          stream_id: id,
          deliveries: null,
          error: {
            code: 'ERR_STREAM_TRIMMED',
            message: 'the entry was deleted from the stream before it was processed',
          },
          payload: null,
          failed_at: failedAt,
        })),
        { ordered: false },
      );
    },
  };
}

/** The dead-letter stream entry: the original fields plus CONTRACT §4's extra fields. */
export function deadLetterFields({ entry, error }: DeadLetter, deadAt: number): string[] {
  return [
    ...entry.fields,
    ...encodeDeadLetterInfo({
      original_id: entry.id,
      deliveries: entry.deliveries,
      error_code: error.code,
      error_message: error.message,
      dead_at: deadAt,
    }),
  ];
}

export function deliveryLimitError(entry: BatchEntry, maxDeliveries: number): AppError {
  return new AppError(
    'ERR_DELIVERY_LIMIT',
    `delivered ${entry.deliveries} times without an outcome (MAX_DELIVERIES ${maxDeliveries}): a worker died or hung on it each time`,
  );
}
