import { randomUUID } from 'node:crypto';
import { tenantError } from '../tenant-errors.ts';
import type { Db, DirectoryStore } from './directory-store.ts';

export type AuditType = 'user.created' | 'user.updated' | 'user.deleted' | 'identity.linked' | 'identity.unlinked';

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

export interface AuditEntry {
  type: AuditType;
  description: string;
  userId: string;
  details: Record<string, unknown>;
  date: string;
}

/** The directory's audit trail: every change appends an event; the Management API reads them. */
export class AuditLog {
  readonly #store: DirectoryStore;

  constructor(store: DirectoryStore) {
    this.#store = store;
  }

  /** Appends the event of a change in the change's own transaction: both commit, or neither. */
  async record(trx: Db, actor: Actor, event: AuditEntry): Promise<void> {
    await this.#store.execute(trx, this.#store.queries.insertAuditEvent(auditEventRow(actor, event)));
  }

  /** Newest first; a user's events only when `userId` is given (the user must exist). */
  async read(options: { userId?: string; page: number; perPage: number }): Promise<{ events: AuditEvent[]; total: number }> {
    if (options.userId !== undefined && !(await this.#store.findUser(options.userId))) throw tenantError('inexistent_user');
    let query = this.#store.reader.selectFrom('audit_events');
    if (options.userId !== undefined) query = query.where('user_id', '=', options.userId);
    const [rows, count] = await Promise.all([
      query
        .selectAll()
        .orderBy('seq', 'desc')
        .limit(options.perPage)
        .offset(options.page * options.perPage)
        .execute(),
      query.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return {
      total: Number(count.n),
      events: rows.map((r) => ({
        log_id: r.log_id,
        date: r.date,
        type: r.type as AuditType,
        description: r.description,
        actor: r.actor,
        client_id: r.client_id,
        user_id: r.user_id,
        details: JSON.parse(r.details) as Record<string, unknown>,
      })),
    };
  }
}

/** The audit_events row of a change, written in the change's own transaction. */
function auditEventRow(
  actor: Actor,
  event: AuditEntry,
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
