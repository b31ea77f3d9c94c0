/** Test helper: the stored version per entity id of an EntityStore.findStored answer. */
import type { StoredEntity } from '../../src/shared/store/entities.js';

export function versionsOf(stored: ReadonlyMap<string, StoredEntity>): Map<string, number> {
  return new Map([...stored].map(([id, entity]) => [id, entity.version]));
}
