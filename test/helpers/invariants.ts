import assert from 'node:assert/strict';
import type { Database } from '../../src/tenant/tenant-database.ts';

/**
 * The directory's invariant: every identity belongs to exactly one existing user, every
 * user owns exactly one main identity, and its user_id is `provider|user_id` of that identity.
 */
export async function assertDirectoryInvariant(database: Database): Promise<{ users: number; identities: number }> {
  const users = await database.db.selectFrom('users').select(['user_id']).execute();
  const identities = await database.db.selectFrom('identities').selectAll().execute();
  const userIds = new Set(users.map((u) => u.user_id));
  const seen = new Set<string>();
  const mains = new Map<string, string[]>();
  for (const identity of identities) {
    const key = `${identity.provider}|${identity.user_id}`;
    assert.ok(!seen.has(key), `identity ${key} appears twice`);
    seen.add(key);
    assert.ok(userIds.has(identity.owner_id), `identity ${key} belongs to missing user ${identity.owner_id}`);
    if (identity.is_main === 1) mains.set(identity.owner_id, [...(mains.get(identity.owner_id) ?? []), key]);
    else assert.notEqual(identity.profile_data, null, `secondary identity ${key} has no profileData`);
  }
  for (const userId of userIds) {
    const main = mains.get(userId) ?? [];
    assert.equal(main.length, 1, `user ${userId} owns ${main.length} main identities`);
    assert.equal(main[0], userId, `user ${userId} has main identity ${main[0]}`);
  }
  return { users: users.length, identities: identities.length };
}
