import type { EmbeddedTenantWiring } from './app/app-config.ts';
import { BACKCHANNEL_LOGOUT_PATH } from './app/auth/backchannel-logout-route.ts';
import type { Tenant } from './tenant/tenant.ts';

/** What the app's management client may do at the tenant: no more than the linking flows need. */
export const APP_MANAGEMENT_SCOPES = ['read:users', 'update:users', 'read:logs', 'read:logs_users', 'read:connections'];

/**
 * Registers the app at the embedded tenant, as an administrator would at Auth0: a web
 * application (code flow) and a machine-to-machine client for the Management API. Secrets
 * are stored hashed, so each start issues new ones (the previous ones stop working).
 */
export async function wireEmbeddedApp(tenant: Tenant, appUrl: string): Promise<EmbeddedTenantWiring> {
  const web = await tenant.clients.provision({
    name: 'Accord app',
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: [],
    redirectUris: [`${appUrl}/callback`, `${appUrl}/link/callback`],
    postLogoutRedirectUris: [`${appUrl}/`],
    // The tenant tells the app when a user's sessions end (sign-out, password reset, block…).
    backchannelLogoutUri: `${appUrl}${BACKCHANNEL_LOGOUT_PATH}`,
  });
  const machine = await tenant.clients.provision({
    name: 'Accord app (Management API)',
    grantTypes: ['client_credentials'],
    scopes: APP_MANAGEMENT_SCOPES,
  });
  return {
    issuer: tenant.config.url,
    clientId: web.client_id,
    clientSecret: web.client_secret,
    managementClientId: machine.client_id,
    managementClientSecret: machine.client_secret,
  };
}
