import { errors, interactionPolicy, type Grant, type KoaContextWithOIDC } from 'oidc-provider';
import { USER_SCOPES } from '../clients/client-registry.ts';

function rawScope(ctx: KoaContextWithOIDC): string {
  const raw = ctx.method === 'POST' ? (ctx.oidc.body as Record<string, unknown> | undefined)?.scope : ctx.query.scope;
  return typeof raw === 'string' ? raw : '';
}

/**
 * Auth0's rules for an authorization request that oidc-provider does not have, checked once its
 * own checks (client, redirect_uri, scope, resource) have passed. oidc-provider runs every
 * `extraParams` validator on every authorization request, whether the parameter was sent or not:
 * this is registered as `audience`'s, the parameter Auth0 clients name their API with.
 *
 * - `response_mode=web_message` answers by `postMessage` to the redirect URI's origin: only to
 *   an origin registered for the client (its web origins, Auth0's "Allowed Web Origins"). Any
 *   other is refused with a page, since answering there is what must not happen.
 * - `offline_access` yields a refresh token without `prompt=consent` (oidc-provider drops the
 *   scope otherwise): Accord's clients are first-party, as Auth0's skip consent for them. The
 *   other conditions oidc-provider applies still hold: a code is issued and the client has the
 *   refresh_token grant.
 */
export async function auth0AuthorizationRules(ctx: KoaContextWithOIDC, _audience: string | undefined, client: unknown): Promise<void> {
  const { params } = ctx.oidc;
  const metadata = (client as { metadata(): Record<string, unknown> }).metadata();
  if (typeof params?.response_mode === 'string' && params.response_mode.startsWith('web_message')) {
    const origin = new URL(String(params.redirect_uri)).origin;
    const origins = metadata.web_origins;
    if (!Array.isArray(origins) || !origins.includes(origin)) {
      const refused = new errors.InvalidRequest(
        `response_mode=web_message answers only to the client's Allowed Web Origins, and ${origin} is not one of them; add it to the client's web origins.`,
      );
      refused.allow_redirect = false;
      throw refused;
    }
  }
  const scopes = new Set(
    String(params?.scope ?? '')
      .split(' ')
      .filter(Boolean),
  );
  const askedOffline = rawScope(ctx).split(' ').includes('offline_access');
  const grants = metadata.grant_types;
  if (
    askedOffline &&
    !scopes.has('offline_access') &&
    String(params?.response_type).split(' ').includes('code') &&
    Array.isArray(grants) &&
    grants.includes('refresh_token')
  ) {
    scopes.add('offline_access');
    params!.scope = [...scopes].join(' ');
  }
}

/**
 * oidc-provider's `loadExistingGrant`, for first-party clients (all of Accord's): the grant holds
 * whatever the request asks of the signed-in person, so there is no consent step, and a silent
 * request (`prompt=none`) for them answers a code rather than `consent_required`. At the
 * Management API that is a person's own scopes only (read:current_user…), whatever the request
 * says: getResourceServerInfo offers no others to a sign-in, and they are filtered here again.
 * Saved only when it adds something.
 */
export async function loadFirstPartyGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const { oidc } = ctx;
  const accountId = oidc.account?.accountId ?? oidc.session?.accountId;
  const clientId = oidc.client?.clientId;
  if (!accountId || !clientId) return undefined;
  const grantId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(clientId);
  const found = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  const grant = found && found.accountId === accountId && found.clientId === clientId ? found : new oidc.provider.Grant({ accountId, clientId });
  let changed = grant !== found;

  const oidcScopes = new Set(grant.getOIDCScopeEncountered().split(' '));
  const missingScopes = [...oidc.requestParamOIDCScopes].filter((scope) => !oidcScopes.has(scope));
  if (missingScopes.length > 0) {
    grant.addOIDCScope(missingScopes.join(' '));
    changed = true;
  }
  const claims = new Set(grant.getOIDCClaimsEncountered());
  const missingClaims = [...oidc.requestParamClaims].filter((claim) => !claims.has(claim));
  if (missingClaims.length > 0) {
    grant.addOIDCClaims(missingClaims);
    changed = true;
  }
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    const held = new Set(grant.getResourceScopeEncountered(indicator).split(' '));
    const missing = [...oidc.requestParamScopes].filter(
      (scope) => server.scopes.has(scope) && (USER_SCOPES as readonly string[]).includes(scope) && !held.has(scope),
    );
    if (missing.length > 0) {
      grant.addResourceScope(indicator, missing.join(' '));
      changed = true;
    }
  }
  if (changed) await grant.save();
  return grant;
}

/**
 * oidc-provider's prompts, answering a silent request (`prompt=none`) that needs a sign-in in
 * Auth0's words: `login_required` with "Login required" (oidc-provider's descriptions say why in
 * its own terms). Consent is never asked of a first-party client (loadFirstPartyGrant), so its
 * prompt keeps oidc-provider's words.
 */
export function auth0Prompts(): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base();
  for (const check of policy.get('login')?.checks ?? []) {
    if (check.error === undefined || check.error === 'login_required') check.description = 'Login required';
  }
  return policy;
}
