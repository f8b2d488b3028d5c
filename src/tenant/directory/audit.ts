import { randomUUID } from 'node:crypto';

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

/** The audit_events row of a change, written in the change's own transaction. */
export function auditEventRow(
  actor: Actor,
  event: { type: AuditType; description: string; userId: string; details: Record<string, unknown>; date: string },
): Record<'log_id' | 'date' | 'type' | 'description' | 'actor' | 'client_id' | 'user_id' | 'details', string | null> {
  return {
    // The last 12 hex digits of a v4 UUID are 48 random bits, drawn from Node's pooled entropy:
    // randomBytes(6) cost a call into OpenSSL per event.
    log_id: `${event.date.replace(/\D/g, '')}${randomUUID().slice(-12)}`,
    date: event.date,
    type: event.type,
    description: event.description,
    actor: actor.id,
    client_id: actor.clientId ?? null,
    user_id: event.userId,
    details: JSON.stringify(event.details),
  };
}
