/**
 * The sandbox's periodic progress: what was sent and how ingest answered (the traffic's
 * counters), and what reached MongoDB and the streams.
 */
import type { Db } from 'mongodb';

import { COLLECTIONS } from '../shared/mongo.js';
import type { Redis } from '../shared/redis.js';
import type { TrafficCounters } from './traffic.js';

export interface StoredCounts {
  orders: number;
  returns: number;
  products: number;
  /** Entries in the changes stream. */
  notifications: number;
  deadLetters: number;
}

export interface Progress extends TrafficCounters, StoredCounts {}

export interface ProgressSources {
  db: Db;
  redis: Redis;
  changesStreamKey: string;
  deadLetterStreamKey: string;
}

export async function countStored(sources: ProgressSources): Promise<StoredCounts> {
  const { db, redis } = sources;
  const [orders, returns, products, notifications, deadLetters] = await Promise.all([
    db.collection(COLLECTIONS.orders).estimatedDocumentCount(),
    db.collection(COLLECTIONS.returns).estimatedDocumentCount(),
    db.collection(COLLECTIONS.products).estimatedDocumentCount(),
    redis.xlen(sources.changesStreamKey),
    redis.xlen(sources.deadLetterStreamKey),
  ]);
  return { orders, returns, products, notifications, deadLetters };
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

/** One line for a terminal. */
export function formatProgress(p: Progress): string {
  const answers = [`accepted ${p.accepted}`, `duplicates ${p.duplicates}`];
  if (p.ignored > 0) answers.push(`ignored ${p.ignored}`);
  answers.push(`refused ${p.refused}`);
  if (p.unanswered > 0) answers.push(`unanswered ${p.unanswered}`);
  return [
    `webhooks ${p.sent} (${answers.join(', ')})`,
    `stored ${plural(p.orders, 'order')}, ${plural(p.returns, 'return')}, ${plural(p.products, 'product')}`,
    plural(p.notifications, 'change notification'),
    plural(p.deadLetters, 'dead letter'),
    `${plural(p.failuresInjected, 'marketplace failure')} simulated`,
  ].join(' · ');
}
