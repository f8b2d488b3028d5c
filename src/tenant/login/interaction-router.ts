import express, { Router, type NextFunction, type Request, type Response } from 'express';
import Provider, { errors as oidcErrors, type KoaContextWithOIDC } from 'oidc-provider';
import { tenantError } from '../tenant-errors.ts';
import { markUnavailable, tenantErrorPage } from '../error-pages.ts';
import type { Connection, ConnectionRegistry } from '../connections.ts';
import type { UserProfile } from '../directory/profile.ts';
import { type LoadedInteraction, resumeAuthorization, saveInteractionResult } from '../oidc/interaction-result.ts';
import { type ConnectionStrategy, type LinkProof, type LoginEnvironment, proofOf } from './login-environment.ts';

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
  // The interaction each request has loaded and checked (its cookie, its session), for finish.
  const loaded = new WeakMap<Request, LoadedInteraction>();

  const env: LoginEnvironment = {
    ...base,
    async interaction(req, res) {
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== req.params.uid) throw new oidcErrors.SessionNotFound('interaction mismatch');
      loaded.set(req, details);
      return {
        uid: details.uid,
        params: details.params,
        promptName: details.prompt.name,
        clientId: String(details.params.client_id),
      };
    },
    async finish(req, res, identity, amr) {
      // No consent here: the grant is made when the authorization resumes (loadFirstPartyGrant).
      const resultFor = (user: UserProfile) => ({ login: { accountId: user.user_id, amr, remember: true } });
      const interaction = loaded.get(req);
      if (!interaction) {
        const { user } = await base.pipeline.signIn(identity.provider, identity.user_id, { owner: identity.owner });
        return provider.interactionFinished(req, res, resultFor(user), { mergeWithLastSubmission: false });
      }
      // What interactionFinished does, on the interaction this request already loaded and
      // checked rather than on a second lookup of it (cookie signature, row, session), and
      // saved together with the login's count (one group commit). The resume still checks the
      // session against it.
      await base.pipeline.signIn(identity.provider, identity.user_id, {
        owner: identity.owner,
        alongside: (user) => saveInteractionResult(interaction, resultFor(user)),
      });
      resumeAuthorization(res, interaction);
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

/**
 * oidc-provider middleware: an authorization that names a known connection (Auth0's
 * `connection`) sends the browser to that connection's page at once, where the chooser at
 * `/login/:uid` would only redirect it: a request fewer per sign-in. The interaction cookie
 * keeps the chooser's path, which covers the connection's pages and the cancel link; a consent
 * step and an unknown name still go to the chooser, which handles them.
 */
export function straightToNamedConnection(connections: ConnectionRegistry) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    if (ctx.status !== 303) return;
    const interaction = ctx.oidc?.entities.Interaction;
    if (!interaction || interaction.prompt.name === 'consent') return;
    const requested = interaction.params.connection;
    if (typeof requested !== 'string' || !connections.byName(requested)) return;
    if (ctx.response.get('Location') !== `/login/${interaction.uid}`) return;
    ctx.redirect(`/login/${interaction.uid}/${encodeURIComponent(requested)}`);
  };
}

/**
 * A consent step, which a first-party client meets only when it asks for one (`prompt=consent`):
 * the grant already holds what the request asks (loadFirstPartyGrant), so it is given at once.
 */
async function grantFirstPartyConsent(provider: Provider, req: Request, res: Response): Promise<void> {
  await provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
}
