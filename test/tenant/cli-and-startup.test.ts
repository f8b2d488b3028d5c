import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { openTenantDatabase } from '../../src/tenant/tenant-database.ts';
import { ConnectionRegistry, defaultConnections } from '../../src/tenant/connections.ts';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { Directory } from '../../src/tenant/directory/directory.ts';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/tenant/oidc/backchannel-logout.ts';
import { loadTenantKeys, publicJwk } from '../../src/tenant/oidc/keys.ts';
import { accordCli } from '../helpers/cli.ts';
import { childEnv, freePort, runCli, startAccord } from '../helpers/processes.ts';

describe('the accord CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-cli-'));
  const env = childEnv({ DATA_DIR: dir, LOG_LEVEL: 'silent' });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates, then reports nothing left to apply', async () => {
    const first = await accordCli(['migrate'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(JSON.parse(first.stdout), {
      database: 'sqlite',
      applied: [
        '0001_directory',
        '0002_tenant',
        '0003_login',
        '0004_client_logout_uris',
        '0005_oidc_payload_expiry',
        '0006_rate_limits',
        '0007_client_backchannel_logout',
        '0008_client_web_origins',
      ],
    });
    const second = await accordCli(['migrate'], env);
    assert.deepEqual(JSON.parse(second.stdout).applied, []);
  });

  it('runs as its own process (src/cli.ts, the one spawned run): JSON on stdout and exit 0; a usage error on stderr and exit 2', async () => {
    const list = await runCli(['clients', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);
    const unknown = await runCli(['frobnicate'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^accord: unknown command "frobnicate"\n\nUsage: accord <command>/);
    assert.equal(unknown.stdout, '');
  });

  it('creates a client, prints its secret once and stores only a hash', async () => {
    const res = await accordCli(['clients', 'create', '--name', 'Backend', '--grant', 'client_credentials', '--scopes', 'read:users update:users'], env);
    assert.equal(res.code, 0, res.stderr);
    const created = JSON.parse(res.stdout);
    assert.match(created.client_id, /^[A-Za-z0-9]{32}$/);
    assert.ok(created.client_secret.length >= 40);
    assert.deepEqual(created.scopes, ['read:users', 'update:users']);

    const list = await accordCli(['clients', 'list'], env);
    assert.equal(list.code, 0);
    const clients = JSON.parse(list.stdout);
    assert.equal(clients.length, 1);
    assert.equal(clients[0].client_secret, undefined);
    assert.ok(!list.stdout.includes(created.client_secret));

    const database = openTenantDatabase({ sqliteFile: join(dir, 'accord.sqlite') });
    const rows = await database.db.selectFrom('clients').selectAll().execute();
    await database.close();
    assert.ok(!JSON.stringify(rows).includes(created.client_secret), 'the raw secret is not in the database');
  });

  it('refuses unknown scopes, grants and commands with a clear message', async () => {
    const scope = await accordCli(['clients', 'create', '--name', 'x', '--scopes', 'read:everything'], env);
    assert.equal(scope.code, 1);
    assert.match(scope.stderr, /Unknown scopes: read:everything/);
    const grant = await accordCli(['clients', 'create', '--name', 'x', '--grant', 'password'], env);
    assert.equal(grant.code, 2);
    assert.match(grant.stderr, /unknown grant "password"/);
    const noRedirect = await accordCli(['clients', 'create', '--name', 'web', '--grant', 'authorization_code'], env);
    assert.equal(noRedirect.code, 2);
    assert.match(noRedirect.stderr, /needs at least one --redirect-uri/);
    const badRedirect = await accordCli(['clients', 'create', '--name', 'web', '--grant', 'authorization_code', '--redirect-uri', 'javascript:alert(1)'], env);
    assert.equal(badRedirect.code, 2);
    const command = await accordCli(['frobnicate'], env);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command/);
    const missing = await accordCli(['users', 'get'], env);
    assert.equal(missing.code, 2);
  });

  it('creates a single-page app with --spa: a public client, no secret printed or stored', async () => {
    const args = ['clients', 'create', '--name', 'SPA', '--spa', '--redirect-uri', 'https://spa.example.com/', '--web-origin', 'https://spa.example.com'];
    const res = await runCli(args, env);
    assert.equal(res.code, 0, res.stderr);
    const created = JSON.parse(res.stdout);
    assert.equal(created.client_secret, undefined);
    assert.equal(created.app_type, 'spa');
    assert.equal(created.token_endpoint_auth_method, 'none');
    assert.deepEqual(created.grant_types, ['authorization_code', 'refresh_token']);
    const listed = (JSON.parse((await runCli(['clients', 'list'], env)).stdout) as { client_id: string; app_type: string }[]).find(
      (client) => client.client_id === created.client_id,
    );
    assert.equal(listed?.app_type, 'spa');
    const database = openTenantDatabase({ sqliteFile: join(dir, 'accord.sqlite') });
    const row = await database.db.selectFrom('clients').select('secret_hash').where('client_id', '=', created.client_id).executeTakeFirstOrThrow();
    await database.close();
    assert.equal(row.secret_hash, null);

    const machine = await runCli([...args, '--grant', 'client_credentials'], env);
    assert.equal(machine.code, 1);
    assert.match(machine.stderr, /single-page app has no secret/);
    const noCallback = await runCli(['clients', 'create', '--name', 'SPA', '--spa'], env);
    assert.equal(noCallback.code, 2);
    assert.match(noCallback.stderr, /needs at least one --redirect-uri/);
  });

  it('registers web origins (--web-origin, repeatable), shows them like the redirect URIs, and refuses what is not an origin (docs/security.md case 37)', async () => {
    const res = await accordCli(
      [
        'clients',
        'create',
        '--name',
        'SPA',
        '--grant',
        'authorization_code',
        '--redirect-uri',
        'https://app.example.com/callback',
        '--web-origin',
        'https://app.example.com',
        '--web-origin',
        'http://localhost:5173',
      ],
      env,
    );
    assert.equal(res.code, 0, res.stderr);
    const created = JSON.parse(res.stdout);
    assert.deepEqual(created.web_origins, ['https://app.example.com', 'http://localhost:5173']);
    const listed = (
      JSON.parse((await accordCli(['clients', 'list'], env)).stdout) as { client_id: string; web_origins: string[]; redirect_uris: string[] }[]
    ).find((client) => client.client_id === created.client_id);
    assert.deepEqual(listed?.web_origins, ['https://app.example.com', 'http://localhost:5173']);
    assert.deepEqual(listed?.redirect_uris, ['https://app.example.com/callback']);
    for (const [origin, message] of [
      ['https://app.example.com/', /is not an origin: give only scheme:\/\/host\[:port\], with no path or trailing slash \(here https:\/\/app\.example\.com\)/],
      ['https://app.example.com/callback', /is not an origin/],
      ['https://App.Example.com', /here https:\/\/app\.example\.com/],
      ['ftp://files.example.com', /must use http or https/],
      ['app.example.com', /is not an origin such as/],
    ] as const) {
      const refused = await accordCli(['clients', 'create', '--name', 'x', '--grant', 'client_credentials', '--web-origin', origin], env);
      assert.equal(refused.code, 2, origin);
      assert.match(refused.stderr, message, origin);
    }
  });

  it('registers a back-channel logout URI, and blocking or deleting a user from the CLI tells that client (docs/security.md case 28)', async () => {
    const received: string[] = [];
    const endpoint = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        received.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.end();
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', () => resolve()));
    const uri = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/backchannel-logout`;
    try {
      const bad = await accordCli(
        [
          'clients',
          'create',
          '--name',
          'web',
          '--grant',
          'authorization_code',
          '--redirect-uri',
          'http://127.0.0.1:3999/callback',
          '--backchannel-logout-uri',
          'ftp://x/y',
        ],
        env,
      );
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--backchannel-logout-uri must be an absolute http\(s\) URL/);
      const res = await accordCli(
        [
          'clients',
          'create',
          '--name',
          'web',
          '--grant',
          'authorization_code',
          '--redirect-uri',
          'http://127.0.0.1:3999/callback',
          '--backchannel-logout-uri',
          uri,
        ],
        env,
      );
      assert.equal(res.code, 0, res.stderr);
      const created = JSON.parse(res.stdout);
      assert.equal(created.backchannel_logout_uri, uri);
      const listed = JSON.parse((await accordCli(['clients', 'list'], env)).stdout) as { client_id: string; backchannel_logout_uri: string | null }[];
      assert.equal(listed.find((c) => c.client_id === created.client_id)?.backchannel_logout_uri, uri);
      assert.ok(
        listed.some((c) => c.backchannel_logout_uri === null),
        'a client without one shows null',
      );

      const database = openTenantDatabase({ sqliteFile: join(dir, 'accord.sqlite') });
      const directory = new Directory(database, new ConnectionRegistry(defaultConnections()));
      const user = await directory.createUser(
        { connection: 'Username-Password-Authentication', email: 'cli-block@example.com', password: 'Correct-horse-9' },
        SYSTEM_ACTOR,
      );
      const jwks = createLocalJWKSet({ keys: (await loadTenantKeys(database.db)).signing.map(publicJwk) });
      await database.close();

      const blocked = await accordCli(['users', 'block', user.user_id], env);
      assert.equal(blocked.code, 0, blocked.stderr);
      assert.equal(JSON.parse(blocked.stdout).blocked, true);
      assert.equal(received.length, 1, 'delivered before the command returned');
      const { payload } = await jwtVerify(received[0]!, jwks, { issuer: 'http://localhost:4000', audience: created.client_id, typ: 'logout+jwt' });
      assert.equal(payload.sub, user.user_id);
      assert.deepEqual(payload.events, { [BACKCHANNEL_LOGOUT_EVENT]: {} });

      const deleted = await accordCli(['users', 'delete', user.user_id], env);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(received.length, 2);
      assert.equal((await jwtVerify(received[1]!, jwks, { audience: created.client_id })).payload.sub, user.user_id);
      assert.equal((await accordCli(['users', 'get', user.user_id], env)).code, 1);
    } finally {
      endpoint.close();
    }
  });

  it('lists and gets users', async () => {
    const list = await accordCli(['users', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), { users: [], total: 0 });
    const get = await accordCli(['users', 'get', 'auth0|nobody'], env);
    assert.equal(get.code, 1);
    assert.match(get.stderr, /The user does not exist/);
  });
});

describe('npm start (src/main.ts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-start-'));
  let port: number;
  let appPort: number;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    port = await freePort();
    appPort = await freePort();
    env = childEnv({ DATA_DIR: dir, TENANT_PORT: String(port), PORT: String(appPort), LOG_LEVEL: 'debug' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the Management API end to end, logs no secrets and stops cleanly on SIGTERM', async () => {
    const created = JSON.parse((await accordCli(['clients', 'create', '--name', 'e2e', '--scopes', 'read:users create:users'], env)).stdout);
    const accord = await startAccord(env);
    try {
      const base = `http://127.0.0.1:${port}`;
      assert.match(accord.output(), new RegExp(`http://localhost:${port}/\\.well-known/openid-configuration`));
      // The app runs beside the tenant, wired to it: its sign-in goes to the tenant's /authorize.
      assert.match(accord.output(), new RegExp(`Accord app is running: http://localhost:${appPort}/`));
      assert.deepEqual(await fetch(`http://127.0.0.1:${appPort}/healthz`).then((r) => r.json()), { status: 'ok' });
      const signIn = await fetch(`http://127.0.0.1:${appPort}/login`, { redirect: 'manual' });
      assert.equal(signIn.status, 302);
      assert.ok(signIn.headers.get('location')!.startsWith(`http://localhost:${port}/authorize?`), signIn.headers.get('location')!);
      const token = (await fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'client_credentials',
          client_id: created.client_id,
          client_secret: created.client_secret,
          audience: `http://localhost:${port}/api/v2/`,
        }),
      }).then((r) => r.json())) as { access_token: string };
      assert.ok(token.access_token);
      const user = await fetch(`${base}/api/v2/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ connection: 'Username-Password-Authentication', email: 'log@example.com', password: 'Secret-Pa55word' }),
      });
      assert.equal(user.status, 201);
      accord.child.kill('SIGTERM');
      assert.equal(await accord.exited, 0);
      const logs = accord.output();
      assert.match(logs, /"msg":"stopped"/);
      for (const secret of [created.client_secret, token.access_token, 'Secret-Pa55word']) assert.ok(!logs.includes(secret), 'a secret reached the logs');
    } finally {
      accord.child.kill('SIGKILL');
    }
  });

  it('refuses to start with invalid configuration, saying what is wrong', async () => {
    await assert.rejects(startAccord({ ...env, TENANT_PORT: 'eighty' }), /TENANT_PORT/);
    await assert.rejects(startAccord({ ...env, DATABASE_URL: 'mysql://x' }), /DATABASE_URL must be a postgres/);
  });
});
