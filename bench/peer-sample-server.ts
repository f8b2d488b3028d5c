/**
 * The peer of the profile page (issue 14): a signed-in page built the way Auth0's own
 * account-linking sample (`auth0-samples/auth0-link-accounts-sample`, RegularWebApp) builds
 * it, served against the bench tenant in its own process. None of the sample's code is here;
 * its construction is reproduced with the library it uses, express-openid-connect 1.x (the
 * devDependency `express-openid-connect-v1`), configured as the sample configures it:
 *
 * - `auth({ required: false, routes: false, auth0Logout: true, httpOptions: { timeout: 10000 } })`,
 *   the library's defaults otherwise: the implicit flow (`id_token`, `form_post`) and its
 *   encrypted cookie session (`appSession`, secret from APP_SESSION_SECRET);
 * - `/login` calls `res.openid.login({ returnTo: '/user' })` (the bench passes `connection`
 *   through, so its sign-in skips the tenant's chooser; the page measured is not affected);
 * - `GET /user` behind `requiresAuth()` makes the sample's two Management API calls per page,
 *   at once and with no cache: the user (`GET /api/v2/users/{sub}`) and the others with the
 *   same verified email (`GET /api/v2/users?search_engine=v3&q=email:"…" AND
 *   email_verified:true -user_id:"…"`), with one client-credentials token kept in memory as the
 *   sample's Auth0Client keeps it, then renders the user, the raw profile as JSON, the
 *   suggestions and the linked accounts (the sample renders a Pug template; a template
 *   string here, which costs less than Pug, so the comparison flatters the peer if anything).
 *   The sample's HTTP client (`request-promise-native`) is deprecated; global fetch stands in,
 *   and Express is the project's 5 (the sample pins 4.17).
 *
 * Environment: PEER_PORT, ISSUER_BASE_URL (the tenant's origin, as in the sample's `.env`),
 * BASE_URL, CLIENT_ID, CLIENT_SECRET (the sample uses one client for both the sign-in and the
 * Management API), APP_SESSION_SECRET. Listens on 127.0.0.1 and prints `READY <url>`.
 */
import type { Server } from 'node:http';
import express from 'express';
import expressOpenIdConnect from 'express-openid-connect-v1';
import { stopWithParent } from './support.ts';

const { auth, requiresAuth } = expressOpenIdConnect as unknown as {
  auth(params: Record<string, unknown>): express.RequestHandler;
  requiresAuth(): express.RequestHandler;
};

interface SampleRequest extends express.Request {
  openid: { user: { sub: string; email?: string; email_verified?: boolean } };
}
interface SampleResponse extends express.Response {
  openid: { login(options: { returnTo: string; authorizationParams?: Record<string, string> }): void };
}
interface Identity {
  provider: string;
  user_id: string;
  connection: string;
  profileData?: { picture?: string };
}
interface User {
  user_id: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  picture?: string;
  identities: Identity[];
  user_metadata?: unknown;
  app_metadata?: unknown;
}

const issuer = process.env.ISSUER_BASE_URL ?? '';
const baseUrl = process.env.BASE_URL ?? '';
const port = Number(process.env.PEER_PORT);
for (const url of [issuer, baseUrl]) {
  if (!URL.canParse(url) || new URL(url).hostname !== '127.0.0.1') throw new Error(`the peer stays on 127.0.0.1: ${url}`);
}

/** The sample's Auth0Client: one Management API token, fetched once and kept. */
class ManagementCalls {
  #token: Promise<string> | undefined;

  #getToken(): Promise<string> {
    this.#token ??= fetch(`${issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({
        client_id: process.env.CLIENT_ID,
        client_secret: process.env.CLIENT_SECRET,
        grant_type: 'client_credentials',
        audience: `${issuer}/api/v2/`,
      }),
    }).then(async (res) => {
      if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { access_token: string }).access_token;
    });
    return this.#token;
  }

  async #request<T>(path: string): Promise<T> {
    const res = await fetch(`${issuer}${path}`, { headers: { authorization: `Bearer ${await this.#getToken()}` }, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  getUser(userId: string): Promise<User> {
    return this.#request(`/api/v2/users/${encodeURIComponent(userId)}`);
  }

  getUsersWithSameVerifiedEmail({ sub, email }: { sub: string; email?: string }): Promise<User[]> {
    const qs = new URLSearchParams({ search_engine: 'v3', q: `email:"${email}" AND email_verified:true -user_id:"${sub}"` });
    return this.#request(`/api/v2/users?${qs}`);
  }
}

const html = (value: unknown) => String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const json = (value: unknown) => html(JSON.stringify(value, null, 2));

/** The sample's user page: the root profile, the suggestions, the linked accounts. */
function userPage(user: User, suggestedUsers: User[]): string {
  const suggestions = suggestedUsers
    .map(
      (
        s,
      ) => `<tr data-id="${html(s.user_id)}"><td>${html(s.user_id)}</td><td>${html(s.name)}</td><td>${s.picture ? `<img class="profile-image" src="${html(s.picture)}">` : ''}</td>
<td>${json(s.user_metadata)}</td><td>${json(s.app_metadata)}</td><td><form action="/link" method="post"><input type="hidden" name="userid" value="${html(s.user_id)}"><input type="hidden" name="email" value="${html(s.email)}"><input type="hidden" name="connection" value="${html(s.identities[0]?.connection)}"><button class="btn btn-success btn-xs unlink">link</button></form></td></tr>`,
    )
    .join('\n');
  const identities = user.identities
    .map(
      (i) => `<tr data-id="${html(i.user_id)}"><td>${html(i.provider)}</td><td>${html(i.user_id)}</td><td>${html(i.connection)}</td>
<td>${i.profileData?.picture ? `<img class="profile-image" src="${html(i.profileData.picture)}">` : ''}</td><td><pre>${json(i.profileData)}</pre></td>
<td><form method="POST" action="/link/delete"><input type="hidden" name="provider" value="${html(i.provider)}"><input type="hidden" name="userId" value="${html(i.user_id)}"><button class="btn btn-danger btn-xs unlink" type="submit">unlink</button></form></td></tr>`,
    )
    .join('\n');
  return `<!DOCTYPE html><html><head><title>Account Linking Sample</title><link rel="stylesheet" href="/stylesheets/style.css"></head><body>
<nav class="navbar navbar-default"><div class="container"><a class="navbar-brand" href="/">Account Linking Sample</a><ul class="nav navbar-nav navbar-right"><li><a href="/logout">Logout</a></li></ul></div></nav>
<div class="container">
<div class="panel panel-default"><div class="panel-heading"><img class="img-circle profile-image" src="${html(user.picture)}">Root Profile</div>
<div class="panel-body"><dl class="dl-horizontal"><dt>email</dt><dd>${html(user.email)} &nbsp;${user.email_verified ? '<span class="label label-success">verified</span>' : '<span class="label label-danger">not verified</span>'}</dd>
<dt>raw profile</dt><dd><pre class="profile">${json(user)}</pre></dd></dl></div></div>
${
  suggestedUsers.length > 0
    ? `<div class="panel panel-default"><div class="panel-heading">Accounts with the same email address</div><div class="panel-body"><p>We noticed there are other registered users with same verified e-mail address: <strong>${html(user.email)}</strong>. Do you want to link the accounts and merge its metadata?</p>
<table class="table table-condensed"><thead><tr><th>user_id</th><th>name</th><th>picture</th><th>user_metadata</th><th>app_metadata</th><th>actions</th></tr></thead><tbody id="suggested-users">${suggestions}</tbody></table></div></div>`
    : ''
}
<div class="panel panel-default"><div class="panel-heading">Linked Accounts</div>
${user.identities.length > 1 ? `<table class="table identities"><thead><tr><th>provider</th><th>id</th><th>connection</th><th style="width:5%"></th><th>profile data</th><th></th></tr></thead><tbody>${identities}</tbody></table>` : '<div class="panel-body">There are no linked accounts.</div>'}
</div></div></body></html>`;
}

const management = new ManagementCalls();
const app = express();
app.use(auth({ required: false, routes: false, auth0Logout: true, httpOptions: { timeout: 10_000 } }));
app.use(express.urlencoded({ extended: false }));
app.get('/login', (req, res) => {
  const connection = typeof req.query.connection === 'string' ? req.query.connection : undefined;
  (res as SampleResponse).openid.login({ returnTo: '/user', ...(connection ? { authorizationParams: { connection } } : {}) });
});
app.get('/user', requiresAuth(), async (req, res) => {
  const me = (req as SampleRequest).openid.user;
  try {
    const [user, suggestedUsers] = await Promise.all([management.getUser(me.sub), me.email_verified ? management.getUsersWithSameVerifiedEmail(me) : []]);
    res.type('html').send(userPage(user, suggestedUsers));
  } catch (err) {
    res.status(500).type('text').send(String(err));
  }
});

const server = await new Promise<Server>((resolve, reject) => {
  const s = app.listen(port, '127.0.0.1', () => resolve(s));
  s.once('error', reject);
});
server.keepAliveTimeout = 60_000;
process.stdout.write(`READY ${baseUrl}\n`);

stopWithParent(server, { onStdinEnd: true });
