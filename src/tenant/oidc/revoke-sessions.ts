import { sql, type Kysely } from 'kysely';
import { prepareQuery } from '../../platform/prepared-query.ts';
import type { Database, Schema } from '../tenant-database.ts';
import type { BackchannelLogout } from './backchannel-logout.ts';

/**
 * Whether an account holds anything at the OpenID Provider: compiled once (every link asks it),
 * with a literal LIMIT, since SQLite re-plans a statement whose LIMIT is bound on every run.
 */
function holdsAnyQuery(db: Kysely<Schema>) {
  return prepareQuery(['accountId'], (p) => db.selectFrom('oidc_payloads').select('id').where('account_id', '=', p.accountId).limit(sql.lit(1)));
}

type AccountDatabase = Pick<Database, 'db' | 'reader' | 'runNow'>;

/**
 * Ends everything an account holds at the OpenID Provider: its sessions (every browser is
 * signed out), grants, and the codes, access tokens and refresh tokens issued under them.
 * Returns the number of rows deleted.
 */
async function revokeAccountSessions(database: AccountDatabase, holdsAny: ReturnType<typeof holdsAnyQuery>, accountId: string): Promise<number> {
  // Usually the account holds nothing (an account linked through the API may never have signed
  // in here): then one read of committed data, no write transaction; on SQLite at once, not
  // behind the writes under way. What it might gain right after this read it could as well
  // gain right after the transaction below.
  const query = holdsAny({ accountId });
  const held = database.runNow?.committed(query) ?? (await database.reader.executeQuery(query));
  if (held.rows.length === 0) return 0;
  return database.db.transaction().execute(async (trx) => {
    const grants = await trx.selectFrom('oidc_payloads').select(['model', 'id', 'grant_id']).where('account_id', '=', accountId).execute();
    const grantIds = [...new Set(grants.flatMap((row) => (row.model === 'Grant' ? [row.id] : row.grant_id ? [row.grant_id] : [])))];
    const owned = await trx.deleteFrom('oidc_payloads').where('account_id', '=', accountId).executeTakeFirst();
    let deleted = Number(owned.numDeletedRows);
    if (grantIds.length > 0) {
      // Anything else issued under one of the account's grants, whatever its model.
      const issued = await trx.deleteFrom('oidc_payloads').where('grant_id', 'in', grantIds).executeTakeFirst();
      deleted += Number(issued.numDeletedRows);
    }
    return deleted;
  });
}

/**
 * Ends every session of an account: its state at the OpenID Provider (above) and, through
 * OpenID Connect Back-Channel Logout, its sessions at every client that registered for it.
 * Clients are told whether or not the tenant still held a session: an app session outlives
 * the tenant's (3 days idle at the tenant, a rolling session at the app).
 */
export class AccountSessions {
  readonly #holdsAny: ReturnType<typeof holdsAnyQuery>;

  constructor(
    private readonly database: AccountDatabase,
    private readonly backchannel: Pick<BackchannelLogout, 'accountEnded'>,
  ) {
    this.#holdsAny = holdsAnyQuery(database.db);
  }

  async end(accountId: string): Promise<number> {
    const revoked = await revokeAccountSessions(this.database, this.#holdsAny, accountId);
    this.backchannel.accountEnded(accountId);
    return revoked;
  }
}
