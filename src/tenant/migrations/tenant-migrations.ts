import type { Dialect } from '../../platform/database.ts';
import { runMigrations, type MigrationReport } from '../../platform/migrations.ts';
import type { Database } from '../tenant-database.ts';
import { createDirectoryTables } from './0001-directory.ts';
import { createTenantTables } from './0002-tenant.ts';
import { createLoginTables } from './0003-login.ts';
import { addClientLogoutUris } from './0004-client-logout-uris.ts';
import { indexOidcPayloadExpiry } from './0005-oidc-payload-expiry.ts';
import { createRateLimitHits } from './0006-rate-limits.ts';
import { addClientBackchannelLogout } from './0007-client-backchannel-logout.ts';
import { addClientWebOrigins } from './0008-client-web-origins.ts';

/** The tenant's migrations, in order, one file each; the same list serves SQLite and PostgreSQL. */
function tenantMigrations(dialect: Dialect) {
  return {
    '0001_directory': createDirectoryTables(dialect),
    '0002_tenant': createTenantTables,
    '0003_login': createLoginTables(dialect),
    '0004_client_logout_uris': addClientLogoutUris,
    '0005_oidc_payload_expiry': indexOidcPayloadExpiry,
    '0006_rate_limits': createRateLimitHits,
    '0007_client_backchannel_logout': addClientBackchannelLogout,
    '0008_client_web_origins': addClientWebOrigins,
  };
}

/** Brings the tenant's schema up to date (Kysely's default bookkeeping tables are the tenant's). */
export function migrateTenant(database: Database): Promise<MigrationReport> {
  return runMigrations(database, tenantMigrations(database.dialect));
}
