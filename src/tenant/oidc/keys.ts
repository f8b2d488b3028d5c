import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from '../tenant-database.ts';

export interface SigningJwk {
  kty: 'RSA';
  kid: string;
  alg: 'RS256';
  use: 'sig';
  n: string;
  e: string;
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
}

export interface TenantKeys {
  signing: SigningJwk[];
  cookies: string[];
}

/**
 * Reads a named secret, creating it on first use. Insert-if-absent then re-read, so two
 * processes starting together on one database agree on the same value.
 */
export async function loadOrCreate(db: Kysely<Schema>, name: string, create: () => string): Promise<string> {
  const existing = await db.selectFrom('tenant_secrets').select('value').where('name', '=', name).executeTakeFirst();
  if (existing) return existing.value;
  await db
    .insertInto('tenant_secrets')
    .values({ name, value: create(), created_at: new Date().toISOString() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const stored = await db.selectFrom('tenant_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return stored.value;
}

export function newSigningKey(): SigningJwk {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as Omit<SigningJwk, 'kid' | 'alg' | 'use'>;
  return { ...jwk, kty: 'RSA', kid: randomBytes(12).toString('base64url'), alg: 'RS256', use: 'sig' };
}

/** Signing and cookie keys, generated once per tenant and persisted: a restart never changes them. */
export async function loadTenantKeys(db: Kysely<Schema>): Promise<TenantKeys> {
  const signing = JSON.parse(await loadOrCreate(db, 'signing_keys', () => JSON.stringify([newSigningKey()]))) as SigningJwk[];
  const cookies = JSON.parse(await loadOrCreate(db, 'cookie_keys', () => JSON.stringify([randomBytes(32).toString('base64url')]))) as string[];
  return { signing, cookies };
}

export function publicJwk(key: SigningJwk): { kty: 'RSA'; kid: string; alg: 'RS256'; use: 'sig'; n: string; e: string } {
  return { kty: key.kty, kid: key.kid, alg: key.alg, use: key.use, n: key.n, e: key.e };
}
