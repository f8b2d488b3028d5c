import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import Provider, { errors, type Adapter, type AdapterPayload, type Configuration, type InteractionResults, type KoaContextWithOIDC } from 'oidc-provider';
import type { TenantConfig } from '../../tenant-config.ts';
import type { Database } from '../../tenant-database.ts';
import { epochSeconds } from '../../../platform/time.ts';
import type { ConnectionConfig } from '../../connections.ts';
import { isPlausibleEmail, normalizeEmail } from '../../directory/email.ts';
import { loadOrCreate, newSigningKey, type SigningJwk } from '../../oidc/keys.ts';
import { cookieSigner } from '../../oidc/cookie-signatures.ts';
import { type LoadedInteraction, resumeAuthorization, saveInteractionResult } from '../../oidc/interaction-result.ts';
import { inProcessFetch, type InProcessFetch } from './in-process-fetch.ts';

export const DEMO_IDP_PATH = '/demo-idp';
export const DEMO_CONNECTION = 'demo-social';

interface DemoIdpSecrets {
  signing: SigningJwk[];
  cookies: string[];
  clientSecret: string;
}

interface DemoAccount {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string;
}

export interface DemoIdp {
  issuer: string;
  /** The upstream OIDC connection the tenant signs in through (`demo-social`). */
  connection: ConnectionConfig;
  /** Mount at DEMO_IDP_PATH, before any body parser. */
  router: Router;
  /** The back channel (discovery, token, JWKS), served in-process: see inProcessFetch. */
  fetch: InProcessFetch;
}

/**
 * oidc-provider storage in process memory, one store per demo IdP. Enough for a demo: a
 * restart signs everyone out of the demo IdP (not out of the tenant), and several tenant
 * processes behind a load balancer do not share it; real upstream IdPs keep their own state.
 */
export function memoryAdapter() {
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number | undefined }>();
  const sweep = () => {
    const now = epochSeconds();
    for (const [key, entry] of store) if (entry.expiresAt !== undefined && entry.expiresAt <= now) store.delete(key);
  };
  return class MemoryAdapter implements Adapter {
    constructor(private readonly model: string) {}
    #key(id: string) {
      return `${this.model}:${id}`;
    }
    #get(key: string | undefined): AdapterPayload | undefined {
      const entry = key === undefined ? undefined : store.get(key);
      if (!entry || (entry.expiresAt !== undefined && entry.expiresAt <= epochSeconds())) return undefined;
      return entry.payload;
    }
    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      if (store.size > 10_000) sweep();
      store.set(this.#key(id), { payload, expiresAt: expiresIn ? epochSeconds() + expiresIn : undefined });
      if (payload.uid)
        store.set(`${this.model}:uid:${payload.uid}`, { payload: { id } as AdapterPayload, expiresAt: expiresIn ? epochSeconds() + expiresIn : undefined });
      if (payload.userCode)
        store.set(`${this.model}:userCode:${payload.userCode}`, {
          payload: { id } as AdapterPayload,
          expiresAt: expiresIn ? epochSeconds() + expiresIn : undefined,
        });
    }
    async find(id: string) {
      return this.#get(this.#key(id));
    }
    async findByUid(uid: string) {
      const ref = this.#get(`${this.model}:uid:${uid}`) as { id?: string } | undefined;
      return ref?.id ? this.#get(this.#key(ref.id)) : undefined;
    }
    async findByUserCode(userCode: string) {
      const ref = this.#get(`${this.model}:userCode:${userCode}`) as { id?: string } | undefined;
      return ref?.id ? this.#get(this.#key(ref.id)) : undefined;
    }
    async consume(id: string) {
      const payload = this.#get(this.#key(id));
      if (payload) payload.consumed = epochSeconds();
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, entry] of store) if (entry.payload.grantId === grantId) store.delete(key);
    }
  };
}

/** The demo IdP's subject for an email: the same email is always the same demo account. */
export function demoSubject(email: string): string {
  return createHash('sha256')
    .update(`accord-demo-idp:${normalizeEmail(email)}`)
    .digest('hex')
    .slice(0, 24);
}

/**
 * A second, real OpenID Provider inside the tenant: a stand-in for "Sign in with Google" that
 * works offline. A person types a name and an email and says whether the email is verified; the
 * tenant signs them in through the ordinary upstream OIDC connection, so every federated code
 * path (discovery, PKCE, nonce, id_token validation, linking) runs for real in development and tests.
 */
export async function createDemoIdp(options: { config: TenantConfig; database: Database }): Promise<DemoIdp> {
  const { config, database } = options;
  const issuer = `${config.url}${DEMO_IDP_PATH}`;
  const secrets = JSON.parse(
    await loadOrCreate(database.db, 'demo_idp_keys', () =>
      JSON.stringify({
        signing: [newSigningKey()],
        cookies: [randomBytes(32).toString('base64url')],
        clientSecret: randomBytes(32).toString('base64url'),
      } satisfies DemoIdpSecrets),
    ),
  ) as DemoIdpSecrets;

  const listed = config.connections.find((c) => c.name === DEMO_CONNECTION);
  const connection: ConnectionConfig = {
    name: DEMO_CONNECTION,
    strategy: 'oidc',
    provider: 'demo-social',
    display_name: listed?.display_name ?? 'Demo social',
    issuer,
    client_id: 'accord-tenant',
    client_secret: secrets.clientSecret,
    scopes: 'openid email profile',
    // The demo IdP reports exactly what the person ticked; an operator may still distrust it.
    trust_email_verified: listed?.strategy === 'oidc' ? listed.trust_email_verified : true,
    linking: listed?.linking ?? 'suggest',
  };

  // Accounts exist only as the last sign-in described them (memory, like the adapter).
  const accounts = new Map<string, DemoAccount>();
  const csrf = (uid: string) => createHmac('sha256', secrets.cookies[0]!).update(`demo-idp-csrf:${uid}`).digest('base64url');

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    clients: [
      {
        client_id: connection.client_id,
        client_secret: secrets.clientSecret,
        redirect_uris: [`${config.url}/login/callback/${DEMO_CONNECTION}`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: secrets.signing },
    cookies: {
      keys: cookieSigner(secrets.cookies),
      // The tenant's own provider uses the default names on the same host.
      names: { session: '_demo_idp_session', interaction: '_demo_idp_interaction', resume: '_demo_idp_resume' },
    },
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // Put the profile in the id_token, as Google does, not only at userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    features: { devInteractions: { enabled: false } },
    // Short-lived: the demo IdP only has to last through a sign-in and a demo session.
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 900, Grant: 86_400, Session: 86_400 },
    interactions: { url: (_ctx, interaction) => `${DEMO_IDP_PATH}/interaction/${interaction.uid}` },
    // Consent is implied: the only client is the tenant itself.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { client, session, provider } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = session.grantIdFor(client.clientId);
      const existing = grantId ? await provider.Grant.find(grantId) : undefined;
      if (existing) return existing;
      const grant = new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, sub) => {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: () => ({ sub, email: account.email, email_verified: account.email_verified, name: account.name }) };
    },
  };
  const provider = new Provider(issuer, configuration);
  // Host and X-Forwarded-Proto come from TENANT_URL (publishAtTenantUrl; inProcessFetch on the back channel).
  provider.proxy = true;

  const render = (res: Response, locals: Record<string, unknown>, status = 200) => {
    res
      .status(status)
      .set('Cache-Control', 'no-store')
      .render('demo-idp/login', { tenantName: 'Demo social', title: 'Sign in to Demo social', error: undefined, ...locals });
  };

  const finish = async (res: Response, interaction: LoadedInteraction, result: InteractionResults) => {
    await saveInteractionResult(interaction, result);
    resumeAuthorization(res, interaction);
  };

  const router = Router();
  router.get('/interaction/:uid', async (req: Request, res: Response) => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== req.params.uid) return res.status(400).send('This sign-in has expired.');
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
    const known = isPlausibleEmail(hint) ? accounts.get(demoSubject(hint)) : undefined;
    render(res, { uid: details.uid, csrf: csrf(details.uid), email: hint, name: known?.name ?? '', emailVerified: known?.email_verified ?? true });
  });
  router.post('/interaction/:uid', express.urlencoded({ extended: false, limit: '10kb' }), async (req: Request, res: Response) => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== req.params.uid) return res.status(400).send('This sign-in has expired.');
    const body = req.body as Record<string, unknown>;
    const presented = Buffer.from(typeof body._csrf === 'string' ? body._csrf : '');
    const expected = Buffer.from(csrf(details.uid));
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return res.status(403).send('Please go back and try again.');
    if (body.action === 'cancel') {
      return finish(res, details, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' });
    }
    const email = typeof body.email === 'string' ? body.email.trim() : '';
    const name = typeof body.name === 'string' ? body.name.trim().slice(0, 200) : '';
    const emailVerified = body.email_verified === 'on';
    if (!isPlausibleEmail(email)) {
      return render(
        res,
        { uid: details.uid, csrf: csrf(details.uid), email, name, emailVerified, error: 'Enter an email address, like ada@example.com.' },
        400,
      );
    }
    const sub = demoSubject(email);
    accounts.set(sub, { sub, email, email_verified: emailVerified, name: name || email });
    return finish(res, details, { login: { accountId: sub, amr: ['pwd'] } });
  });
  router.use(provider.callback());
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!(err instanceof errors.SessionNotFound)) return next(err);
    res.status(400).set('Cache-Control', 'no-store').render('tenant/message', {
      tenantName: 'Demo social',
      title: 'This sign-in has expired',
      message: 'Sign-in pages are valid for a limited time and in the browser that opened them. Go back to the application and sign in again.',
    });
  });

  const backChannel = express().use(DEMO_IDP_PATH, router);
  return { issuer, connection, router, fetch: inProcessFetch(backChannel, new URL(issuer)) };
}
