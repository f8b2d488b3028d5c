import assert from 'node:assert/strict';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { AccordError } from '../../src/platform/errors.ts';
import type { TenantErrorCode } from '../../src/tenant/tenant-errors.ts';
import { ConnectionRegistry, connectionsConfigSchema, defaultConnections } from '../../src/tenant/connections.ts';
import type { Actor } from '../../src/tenant/directory/audit.ts';
import { Directory } from '../../src/tenant/directory/directory.ts';
import type { TestDatabase } from './databases.ts';
import { SOCIAL_CONNECTION } from './tenant.ts';

export const ACTOR: Actor = { id: 'client:cli_directory_tests', clientId: 'cli_directory_tests' };

/** The default connections, Google (provider `google-oauth2`) and a generic OIDC connection (provider `oidc`). */
export function testConnections(): ConnectionRegistry {
  return new ConnectionRegistry(
    connectionsConfigSchema.parse([
      ...defaultConnections(),
      SOCIAL_CONNECTION,
      { name: 'corp-sso', strategy: 'oidc', issuer: 'https://sso.corp.example', client_id: 'accord' },
    ]),
  );
}

export interface OpenDirectory {
  database: Database;
  directory: Directory;
  cleanup(): Promise<void>;
}

export async function openDirectory(db: TestDatabase): Promise<OpenDirectory> {
  const { database, cleanup } = await db.open();
  return { database, directory: new Directory(database, testConnections()), cleanup };
}

/** Asserts that `promise` rejects with an AccordError carrying `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: TenantErrorCode): Promise<AccordError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof AccordError, `expected AccordError ${code}, got ${caught === undefined ? 'success' : String(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  return caught;
}

/** Every identity key (`provider|user_id`) and its owner, for before/after comparisons. */
export async function identityOwners(database: Database): Promise<Map<string, string>> {
  const rows = await database.db.selectFrom('identities').select(['provider', 'user_id', 'owner_id']).execute();
  return new Map(rows.map((r) => [`${r.provider}|${r.user_id}`, r.owner_id]));
}
