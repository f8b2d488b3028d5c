import express, { Router, type NextFunction, type Request, type Response } from 'express';
import Provider, { errors as oidcErrors } from 'oidc-provider';
import { tenantError } from '../tenant-errors.ts';
import { markUnavailable, tenantErrorPage } from '../error-pages.ts';
import { USER_SCOPES } from '../clients/client-registry.ts';
import type { Connection } from '../connections.ts';
import { type ConnectionStrategy, type Interaction, type LinkProof, type LoginEnvironment, proofOf } from './login-environment.ts';

type EnvWithoutHelpers = Omit<LoginEnvironment, 'interaction' | 'finish' | 'render'>;

const noStore = (_req: Request, res: Response, next: NextFunction) => {
  res.set('Cache-Control', 'no-store');
  next();
};

/**
 * The tenant's universal login: `/login/:uid` chooses a connection (or goes straight to the
 * one named by Auth0's `connection` parameter), each connection's routes live under
 * `/login/:uid/:connection`, and first-party consent is granted without a page.
 */
export function interactionRouter(base: EnvWithoutHelpers, strategies: ConnectionStrategy[]): Router {
  const router = Router();
  const { provider } = base;

  const env: LoginEnvironment = {
    ...base,
    async interaction(req, res) {
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== req.params.uid) throw new oidcErrors.SessionNotFound('interaction mismatch');
      return {
        uid: details.uid,
        params: details.params,
        promptName: details.prompt.name,
        clientId: String(details.params.client_id),
        grantId: details.grantId,
        sessionAccountId: details.session?.accountId,
      };
    },
    async finish(req, res, identity, amr) {
      const { user } = await base.pipeline.signIn(identity.provider, identity.user_id);
      const interaction = (res.locals.interaction as Interaction | undefined) ?? (await env.interaction(req, res));
      const consent = await firstPartyGrant(provider, interaction, user.user_id);
      await provider.interactionFinished(req, res, { login: { accountId: user.user_id, amr, remember: true }, ...consent }, { mergeWithLastSubmission: false });
    },
    render(res, view, locals, status = 200) {
      res.status(status).render(view, { tenantName: base.config.name, proof: proofOf(res), ...locals });
    },
  };

  router.use('/login', noStore, express.urlencoded({ extended: false, limit: '10kb' }));

  router.get('/login/:uid', async (req, res) => {
    const interaction = await env.interaction(req, res);
    if (interaction.promptName === 'consent') return grantFirstPartyConsent(provider, req, res);
    const requested = interaction.params.connection;
    if (typeof requested === 'string' && requested.length > 0) {
      if (!base.connections.byName(requested)) throw tenantError('unknown_sign_in_method', `The sign-in method "${requested}" does not exist on this tenant.`);
      return res.redirect(303, `/login/${interaction.uid}/${encodeURIComponent(requested)}`);
    }
    env.render(res, 'tenant/choose-connection', {
      title: 'Sign in',
      uid: interaction.uid,
      connections: base.connections.list().filter((c) => strategies.some((s) => s.strategy === c.strategy)),
      loginHint: typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : '',
    });
  });

  router.get('/login/:uid/abort', async (req, res) => {
    await env.interaction(req, res);
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The user cancelled the sign-in.' },
      { mergeWithLastSubmission: false },
    );
  });

  const byStrategy = new Map(strategies.map((s) => [s.strategy, s.router(env)]));
  router.use('/login/:uid/:connection', async (req, res, next) => {
    const connection: Connection | undefined = base.connections.byName(req.params.connection!);
    const handler = connection ? byStrategy.get(connection.strategy) : undefined;
    if (!connection || !handler) throw tenantError('unknown_sign_in_method');
    res.locals.connection = connection;
    const interaction = await env.interaction(req, res);
    res.locals.interaction = interaction;
    const { prompt, login_hint: loginHint, connection: named } = interaction.params;
    if (typeof prompt === 'string' && prompt.split(' ').includes('login') && typeof loginHint === 'string' && loginHint && named === connection.name) {
      const client = await provider.Client.find(interaction.clientId);
      res.locals.proof = { app: client?.clientName ?? 'the application', email: loginHint.slice(0, 320) } satisfies LinkProof;
    }
    handler(req, res, next);
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const page = tenantErrorPage(err);
    if (!page) return next(err);
    if (page.status === 503) markUnavailable(res);
    env.render(res, 'tenant/message', { title: page.title, message: page.message }, page.status);
  });
  return router;
}

const SIGN_IN_SCOPES = new Set(['openid', 'profile', 'email']);

/**
 * Accord's clients are first-party, so a sign-in grants them what they asked for at once,
 * rather than in a consent step of its own (one more resume of the authorization and one more
 * visit here per sign-in). A browser signed in to the same account keeps its grant. Anything
 * this does not cover (offline_access, the claims parameter, an API's scopes) still goes
 * through the consent step below, which grants exactly what oidc-provider finds missing.
 */
async function firstPartyGrant(provider: Provider, interaction: Interaction, accountId: string): Promise<{ consent?: { grantId: string } }> {
  if (interaction.grantId && interaction.sessionAccountId === accountId) return {};
  const scopes = String(interaction.params.scope ?? '')
    .split(' ')
    .filter((scope) => SIGN_IN_SCOPES.has(scope));
  if (!scopes.includes('openid')) return {};
  const grant = new provider.Grant({ accountId, clientId: interaction.clientId });
  grant.addOIDCScope(scopes.join(' '));
  return { consent: { grantId: await grant.save() } };
}

/** Accord's clients are first-party: the grant covers what they asked for, with no consent page. */
async function grantFirstPartyConsent(provider: Provider, req: Request, res: Response): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: session!.accountId, clientId: String(params.client_id) });
  const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  // A sign-in grants a person's own scopes of the Management API (the only resource server), never
  // what the client may do as a machine: the provider offers a person no others, and should it
  // ever report one missing, the sign-in is refused rather than granted it.
  const resourceScopes = Object.entries(missing.missingResourceScopes ?? {});
  const machine = resourceScopes.flatMap(([, scopes]) => scopes).filter((scope) => !(USER_SCOPES as readonly string[]).includes(scope));
  if (machine.length > 0) {
    await provider.interactionFinished(
      req,
      res,
      { error: 'invalid_scope', error_description: `A sign-in cannot grant ${machine.join(' ')}.` },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  for (const [indicator, scopes] of resourceScopes) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
}
