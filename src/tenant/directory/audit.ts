import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Schema } from '../../platform/database.ts';

export type AuditType =
  | 'user.created' | 'user.updated' | 'user.deleted'
  | 'identity.linked' | 'identity.unlinked';

/** Who asked for a change: a Management API client, a user acting on itself, or the tenant. */
export interface Actor {
  /** `client:<client_id>`, `user:<user_id>`, `cli` or `tenant`. */
  id: string;
  clientId?: string | undefined;
}

export const SYSTEM_ACTOR: Actor = { id: 'tenant' };

export interface AuditEvent {
  log_id: string;
  date: string;
  type: AuditType;
  description: string;
  actor: string | null;
  client_id: string | null;
  user_id: string | null;
  details: Record<string, unknown>;
}

export async function recordEvent(
  trx: Kysely<Schema>,
  actor: Actor,
  event: { type: AuditType; description: string; userId: string; details: Record<string, unknown>; date: string },
): Promise<void> {
  await trx.insertInto('audit_events').values({
    log_id: `${event.date.replace(/\D/g, '')}${randomBytes(6).toString('hex')}`,
    date: event.date,
    type: event.type,
    description: event.description,
    actor: actor.id,
    client_id: actor.clientId ?? null,
    user_id: event.userId,
    details: JSON.stringify(event.details),
  }).execute();
}
