import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ClientRegistry } from '../clients/client-registry.ts';
import type { Directory } from '../directory/directory.ts';

const logoutView = fileURLToPath(new URL('../../../views/tenant/logout.ejs', import.meta.url));
const signingOutView = fileURLToPath(new URL('../../../views/tenant/signing-out.ejs', import.meta.url));
const messageView = fileURLToPath(new URL('../../../views/tenant/message.ejs', import.meta.url));

/** Where oidc-provider's end_session endpoint is mounted (see provider.ts routes). */
export const END_SESSION_PATH = '/oidc/logout';

/**
 * The one script of the tenant's pages: it submits a trusted sign-out at once (as
 * oidc-provider's own self-submitting form does when no one is signed in). The page allows
 * exactly this script by its hash (`allowInlineScript`).
 */
const SUBMIT_SIGN_OUT_SCRIPT = 'document.forms[0].submit();';

/** Adds the hash of an inline script to the page's Content-Security-Policy `script-src` (helmet's). */
function allowInlineScript(ctx: KoaContextWithOIDC, script: string): void {
  const policy = ctx.response.get('content-security-policy');
  if (!policy) return;
  const hash = `'sha256-${createHash('sha256').update(script).digest('base64')}'`;
  ctx.set(
    'Content-Security-Policy',
    policy
      .split(';')
      .map((directive) => (directive.trim().split(/\s+/)[0] === 'script-src' ? `${directive} ${hash}` : directive))
      .join(';'),
  );
}

/**
 * Whether a logout request is the application's own, so the tenant may end its session without
 * asking (OpenID Connect RP-Initiated Logout 1.0, section 2: the OP must ask unless the request
 * carries an id_token_hint of the current session and user). oidc-provider has already checked
 * the hint's signature, issuer and audience (a registered client) and that the return address is
 * one the client registered; this adds that it names the account signed in here and was issued
 * in this browser's session: by its `sid` where it carries one (clients with back-channel
 * logout), else by being issued since this session's sign-in. See docs/security.md case 44.
 */
function isTrustedLogout(ctx: KoaContextWithOIDC): boolean {
  const { client, session, params, entities } = ctx.oidc;
  const hint = entities.IdTokenHint?.payload;
  if (!client || !session?.accountId || !hint || typeof params?.post_logout_redirect_uri !== 'string') return false;
  if (hint.sub !== session.accountId) return false;
  if (hint.sid !== undefined) return hint.sid === session.sidFor(client.clientId);
  const signedIn = session.authTime();
  return typeof hint.iat === 'number' && signedIn !== undefined && hint.iat >= signedIn;
}

/**
 * The pages of RP-initiated logout (oidc-provider's `features.rpInitiatedLogout`), in the
 * tenant's look. An application's own request (`isTrustedLogout`) is carried out at once: its
 * page submits oidc-provider's form with `logout=yes` by itself, and shows a button only
 * without scripts. Any other request asks first. The confirmation page has no script: its "Sign
 * out" button submits oidc-provider's form (which carries the xsrf token) through the button's
 * `form` attribute, and sends `logout=yes` so the whole tenant session ends, not only this
 * client's part of it; its way back is a plain link, which changes nothing.
 */
export function logoutPages(options: { tenantName: string; directory: Directory; allowedLogoutUrls: readonly string[] }) {
  const { tenantName, directory, allowedLogoutUrls } = options;
  return {
    async logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
      const clientName = ctx.oidc.client?.clientName ?? '';
      ctx.type = 'html';
      // oidc-provider's form ends in </form>; were that ever to change, the request is asked about.
      if (isTrustedLogout(ctx) && form.endsWith('</form>')) {
        allowInlineScript(ctx, SUBMIT_SIGN_OUT_SCRIPT);
        ctx.body = await ejs.renderFile(signingOutView, {
          tenantName,
          title: 'Signing you out',
          clientName: clientName || 'the application',
          form: `${form.slice(0, -'</form>'.length)}<input type="hidden" name="logout" value="yes"/></form>`,
          script: SUBMIT_SIGN_OUT_SCRIPT,
        });
        return;
      }
      const accountId = ctx.oidc.session?.accountId;
      const user = accountId ? await directory.findUser(accountId) : undefined;
      ctx.body = await ejs.renderFile(logoutView, {
        tenantName,
        title: `Sign out of ${tenantName}?`,
        clientName,
        account: user?.email ?? user?.name ?? '',
        back: wayBack(ctx, allowedLogoutUrls),
        form,
      });
    },
    async postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
      const clientName = ctx.oidc.client?.clientName;
      ctx.type = 'html';
      ctx.body = await ejs.renderFile(messageView, {
        tenantName,
        title: 'You are signed out',
        message: clientName
          ? `You signed out of ${tenantName}. You can close this window, or go back to ${clientName} to sign in again.`
          : `You signed out of ${tenantName}. You can close this window.`,
      });
    },
  };
}

/**
 * Where the confirmation page's "Stay signed in" link goes: the return address of the request
 * (checked by oidc-provider against the client's list, or by `tenantLogoutUrls.remember` against
 * the tenant's), else the client's first registered one. A link, not oidc-provider's "no" answer,
 * which would still end the client's part of the session.
 */
function wayBack(ctx: KoaContextWithOIDC, allowedLogoutUrls: readonly string[]): { href: string; label: string } | undefined {
  const { client, params } = ctx.oidc;
  const requested = ctx.query.post_logout_redirect_uri;
  const href =
    (typeof params?.post_logout_redirect_uri === 'string' ? params?.post_logout_redirect_uri : undefined) ??
    (!client && typeof requested === 'string' && allowedLogoutUrls.includes(requested) ? requested : undefined) ??
    client?.postLogoutRedirectUris?.[0];
  if (!href) return undefined;
  return { href, label: client?.clientName ? `Stay signed in and go back to ${client.clientName}` : 'Stay signed in and go back' };
}

function refuse(res: Response, message: string): void {
  res.status(400).set('Cache-Control', 'no-store').render('tenant/message', { title: 'We could not sign you out', message });
}

/** Where a logout that names no client returns to, between its request and its confirmation. */
const TENANT_RETURN_COOKIE = 'tenant_logout_return';

interface TenantReturn {
  uri: string;
  state?: string | undefined;
}

function notAllowedMessage(what: string): string {
  return (
    `The ${what} address is not one of this tenant's Allowed Logout URLs, so you were not signed out. ` +
    'Its developers need to add that exact address to ALLOWED_LOGOUT_URLS (or allowed_logout_urls in TENANT_CONFIG), ' +
    'or name their application with client_id.'
  );
}

/**
 * OpenID Connect logout that names no client (no client_id, no id_token_hint), as Auth0's
 * samples send it: a `post_logout_redirect_uri` among the tenant's Allowed Logout URLs is where
 * the browser returns after signing out (oidc-provider would drop it and show its success page);
 * any other is refused. oidc-provider keeps no place for it in the session, so it waits in a
 * cookie for the confirmation (`returnToTenantLogoutUrl`), which checks it against the list again.
 */
export function tenantLogoutUrls(allowedLogoutUrls: readonly string[], secureCookies: boolean) {
  const cookie = { httpOnly: true, sameSite: 'lax' as const, secure: secureCookies, path: END_SESSION_PATH };
  return {
    /** Express, before oidc-provider: `GET /oidc/logout`. */
    remember(req: Request, res: Response, next: NextFunction): void {
      const { client_id: clientId, id_token_hint: hint, post_logout_redirect_uri: uri, state } = req.query;
      if (clientId !== undefined || hint !== undefined || uri === undefined) {
        res.clearCookie(TENANT_RETURN_COOKIE, cookie);
        next();
        return;
      }
      if (typeof uri !== 'string' || (state !== undefined && typeof state !== 'string')) {
        refuse(res, 'The post_logout_redirect_uri and state parameters must appear once.');
        return;
      }
      if (!allowedLogoutUrls.includes(uri)) {
        refuse(res, notAllowedMessage('post_logout_redirect_uri'));
        return;
      }
      const value: TenantReturn = { uri, state };
      res.cookie(TENANT_RETURN_COOKIE, Buffer.from(JSON.stringify(value)).toString('base64url'), { ...cookie, maxAge: 3_600_000 });
      next();
    },
    /** Koa, around oidc-provider's routes: the confirmation's redirect to its success page goes to the remembered URL. */
    async returnToTenantLogoutUrl(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
      await next();
      if (ctx.method !== 'POST' || ctx.path !== `${END_SESSION_PATH}/confirm` || ctx.status !== 303) return;
      const raw = ctx.cookies.get(TENANT_RETURN_COOKIE);
      if (!raw) return;
      ctx.cookies.set(TENANT_RETURN_COOKIE, null, cookie);
      const location = new URL(ctx.response.get('location'), 'http://tenant');
      if (location.pathname !== `${END_SESSION_PATH}/success` || location.searchParams.has('client_id')) return;
      let remembered: TenantReturn;
      try {
        remembered = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as TenantReturn;
      } catch {
        return;
      }
      if (typeof remembered.uri !== 'string' || !allowedLogoutUrls.includes(remembered.uri)) return;
      const target = new URL(remembered.uri);
      if (typeof remembered.state === 'string') target.searchParams.set('state', remembered.state);
      ctx.status = 303;
      ctx.redirect(target.href);
    },
  };
}

/**
 * Auth0's logout endpoint, `GET /v2/logout?client_id=…&returnTo=…`: checks `returnTo` against
 * the client's registered logout URIs (exactly, as Auth0's "Allowed Logout URLs"), or without a
 * client_id against the tenant's, and hands over to the OpenID Connect logout, which asks for
 * confirmation (the request carries no id_token_hint) and ends the session.
 */
export function auth0LogoutRoute(clients: ClientRegistry, allowedLogoutUrls: readonly string[] = []): Router {
  const router = Router();
  router.get('/v2/logout', async (req: Request, res: Response) => {
    const { client_id: clientId, returnTo } = req.query;
    if (clientId !== undefined && typeof clientId !== 'string') return refuse(res, 'The client_id parameter must appear once.');
    if (returnTo !== undefined && typeof returnTo !== 'string') return refuse(res, 'The returnTo parameter must appear once.');
    const query = new URLSearchParams();
    if (clientId) {
      const client = await clients.get(clientId);
      if (!client)
        return refuse(
          res,
          'The application that sent you here is not registered with this tenant, so it cannot sign you out. Go back to it and contact its support.',
        );
      query.set('client_id', client.client_id);
      if (returnTo !== undefined) {
        if (!client.post_logout_redirect_uris.includes(returnTo)) {
          return refuse(
            res,
            `${client.name} asked to send you back to an address it has not registered for signing out, so you were not signed out. ` +
              'Its developers need to add that exact address (returnTo) to the logout URIs of the client.',
          );
        }
        query.set('post_logout_redirect_uri', returnTo);
      }
    } else if (returnTo !== undefined) {
      if (!allowedLogoutUrls.includes(returnTo)) return refuse(res, notAllowedMessage('returnTo'));
      query.set('post_logout_redirect_uri', returnTo);
    }
    const search = query.toString();
    res.redirect(302, `${END_SESSION_PATH}${search ? `?${search}` : ''}`);
  });
  return router;
}
