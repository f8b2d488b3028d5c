import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { Router, type Request, type Response } from 'express';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ClientRegistry } from '../clients/client-registry.ts';
import type { Directory } from '../directory/directory.ts';

const logoutView = fileURLToPath(new URL('../../../views/tenant/logout.ejs', import.meta.url));
const messageView = fileURLToPath(new URL('../../../views/tenant/message.ejs', import.meta.url));

/** Where oidc-provider's end_session endpoint is mounted (see provider.ts routes). */
export const END_SESSION_PATH = '/oidc/logout';

/**
 * The pages of RP-initiated logout (oidc-provider's `features.rpInitiatedLogout`), in the
 * tenant's look. The confirmation page has no script: its "Sign out" button submits
 * oidc-provider's form (which carries the xsrf token) through the button's `form` attribute,
 * and sends `logout=yes` so the whole tenant session ends, not only this client's part of it.
 */
export function logoutPages(options: { tenantName: string; directory: Directory }) {
  const { tenantName, directory } = options;
  return {
    async logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
      const accountId = ctx.oidc.session?.accountId;
      const user = accountId ? await directory.findUser(accountId) : undefined;
      ctx.type = 'html';
      ctx.body = await ejs.renderFile(logoutView, {
        tenantName,
        title: `Sign out of ${tenantName}?`,
        clientName: ctx.oidc.client?.clientName ?? '',
        account: user?.email ?? user?.name ?? '',
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

function refuse(res: Response, message: string): void {
  res.status(400).set('Cache-Control', 'no-store').render('tenant/message', { title: 'We could not sign you out', message });
}

/**
 * Auth0's logout endpoint, `GET /v2/logout?client_id=…&returnTo=…`: checks `returnTo` against
 * the client's registered logout URIs (exactly, as Auth0's "Allowed Logout URLs") and hands
 * over to the OpenID Connect logout, which asks for confirmation and ends the session.
 */
export function auth0LogoutRoute(clients: ClientRegistry): Router {
  const router = Router();
  router.get('/v2/logout', async (req: Request, res: Response) => {
    const { client_id: clientId, returnTo } = req.query;
    if (clientId !== undefined && typeof clientId !== 'string') return refuse(res, 'The client_id parameter must appear once.');
    if (returnTo !== undefined && typeof returnTo !== 'string') return refuse(res, 'The returnTo parameter must appear once.');
    const query = new URLSearchParams();
    if (clientId) {
      const client = await clients.get(clientId);
      if (!client) return refuse(res, 'The application that sent you here is not registered with this tenant, so it cannot sign you out. Go back to it and contact its support.');
      query.set('client_id', client.client_id);
      if (returnTo !== undefined) {
        if (!client.post_logout_redirect_uris.includes(returnTo)) {
          return refuse(res, `${client.name} asked to send you back to an address it has not registered for signing out, so you were not signed out. `
            + 'Its developers need to add that exact address (returnTo) to the logout URIs of the client.');
        }
        query.set('post_logout_redirect_uri', returnTo);
      }
    } else if (returnTo !== undefined) {
      // Logout URIs are registered per client; without one there is nothing to check returnTo against.
      return refuse(res, 'A returnTo address needs the client_id of the application it belongs to, so you were not signed out.');
    }
    const search = query.toString();
    res.redirect(302, `${END_SESSION_PATH}${search ? `?${search}` : ''}`);
  });
  return router;
}
