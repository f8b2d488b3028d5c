import type { IdentitiesTable, UsersTable } from '../tenant-database.ts';

export type Metadata = Record<string, unknown>;

export interface ProfileData {
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  nickname?: string;
  picture?: string;
  phone_number?: string;
  phone_verified?: boolean;
}

export interface Identity {
  provider: string;
  user_id: string;
  connection: string;
  isSocial: boolean;
  profileData?: ProfileData;
}

/** A user exactly as Auth0's Management API shapes it. */
export interface UserProfile extends ProfileData {
  user_id: string;
  email_verified: boolean;
  created_at: string;
  updated_at: string;
  last_login?: string;
  logins_count: number;
  blocked: boolean;
  identities: Identity[];
  user_metadata: Metadata;
  app_metadata: Metadata;
}

export type UserRow = UsersTable;
export type IdentityRow = IdentitiesTable;

const OPTIONAL_STRINGS = ['email', 'name', 'given_name', 'family_name', 'nickname', 'picture', 'phone_number'] as const;

/** The root attributes that move into `profileData` when a user becomes a secondary. */
export function rootProfileData(row: UserRow): ProfileData {
  const data: ProfileData = {};
  for (const key of OPTIONAL_STRINGS) {
    const value = row[key];
    if (value !== null) data[key] = value;
  }
  data.email_verified = row.email_verified === 1;
  if (row.phone_number !== null) data.phone_verified = row.phone_verified === 1;
  return data;
}

export function toIdentity(row: IdentityRow): Identity {
  const identity: Identity = {
    provider: row.provider,
    user_id: row.user_id,
    connection: row.connection,
    isSocial: row.is_social === 1,
  };
  if (row.is_main !== 1 && row.profile_data !== null) identity.profileData = JSON.parse(row.profile_data) as ProfileData;
  return identity;
}

/** Main identity first, then secondaries in the order they were linked. */
export function compareIdentities(a: IdentityRow, b: IdentityRow): number {
  if (a.is_main !== b.is_main) return b.is_main - a.is_main;
  if (a.linked_at !== b.linked_at) return a.linked_at < b.linked_at ? -1 : 1;
  const ka = `${a.provider}|${a.user_id}`;
  const kb = `${b.provider}|${b.user_id}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function toProfile(row: UserRow, identities: IdentityRow[]): UserProfile {
  const profile: UserProfile = {
    user_id: row.user_id,
    email_verified: row.email_verified === 1,
    created_at: row.created_at,
    updated_at: row.updated_at,
    logins_count: row.logins_count,
    blocked: row.blocked === 1,
    identities: [...identities].sort(compareIdentities).map(toIdentity),
    user_metadata: JSON.parse(row.user_metadata) as Metadata,
    app_metadata: JSON.parse(row.app_metadata) as Metadata,
  };
  for (const key of OPTIONAL_STRINGS) {
    const value = row[key];
    if (value !== null) profile[key] = value;
  }
  if (row.phone_number !== null) profile.phone_verified = row.phone_verified === 1;
  if (row.last_login !== null) profile.last_login = row.last_login;
  return profile;
}

/** Splits a `user_id` on the first `|` only: identity ids may contain `|` themselves. */
export function splitUserId(userId: string): { provider: string; identityUserId: string } | undefined {
  const i = userId.indexOf('|');
  if (i <= 0 || i === userId.length - 1) return undefined;
  return { provider: userId.slice(0, i), identityUserId: userId.slice(i + 1) };
}

/** Top-level merge as Auth0 does it: nested objects replaced, `null` deletes a key, `{}` clears. */
export function mergeMetadataTopLevel(current: Metadata, patch: Record<string, unknown>): Metadata {
  if (Object.keys(patch).length === 0) return {};
  const next: Metadata = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}
