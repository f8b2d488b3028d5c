/**
 * HTTPS on one machine: with TLS_CERT_FILE and TLS_KEY_FILE the tenant and the app serve TLS
 * themselves (`npm start`, one process), publish https URLs, set Secure cookies, sign a person
 * in and still stop gracefully; a certificate that cannot be used is a failed start.
 * The certificate is made here, signed by a throwaway CA that only this test trusts (the
 * process through NODE_EXTRA_CA_CERTS, the test's requests through `ca`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAppConfig } from '../../src/app/app-config.ts';
import { ConfigError } from '../../src/platform/env.ts';
import { loadTenantConfig } from '../../src/tenant/tenant-config.ts';
import { enterDemoIdentity, startSignIn } from '../helpers/accord.ts';
import { browserTestsUnavailable, launchChromium } from '../helpers/chromium.ts';
import { childEnv, freePort, startAccord } from '../helpers/processes.ts';
import { makeTestCertificate, tlsTestsUnavailable, type TestCertificate } from '../helpers/tls.ts';
import { WebBrowser } from '../helpers/web-browser.ts';

const unavailable = tlsTestsUnavailable();
if (unavailable) console.log(`# skipped: ${unavailable}`);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One GET over https, trusting only `ca`. */
function get(url: string, ca: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const cookiesOf = (answer: Answer) => [answer.headers['set-cookie'] ?? []].flat();

describe('https on one machine', { skip: unavailable }, () => {
  let dir: string;
  let cert: TestCertificate;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'accord-https-'));
    cert = makeTestCertificate(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('the settings', () => {
    const tls = () => ({ TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, DATA_DIR: dir });

    it('with a certificate and key both halves publish https URLs by default, and carry the credentials', () => {
      const tenant = loadTenantConfig({ ...tls(), TENANT_PORT: '4100' });
      assert.equal(tenant.url, 'https://localhost:4100');
      assert.ok(tenant.tls?.cert.includes('BEGIN CERTIFICATE'));
      const app = loadAppConfig(
        { ...tls(), PORT: '3100', SESSION_SECRET: randomBytes(32).toString('base64url') },
        {
          issuer: tenant.url,
          clientId: 'a',
          clientSecret: 'b',
          managementClientId: 'c',
          managementClientSecret: 'd',
        },
      );
      assert.equal(app.url, 'https://localhost:3100');
      assert.ok(app.tls?.key.includes('PRIVATE KEY'));
      assert.equal(loadTenantConfig({ DATA_DIR: dir, TENANT_PORT: '4100' }).url, 'http://localhost:4100', 'without them, http as before');
    });

    it("refuses a missing or unreadable file, half a pair, a key that is not the certificate's and an http URL, saying which", () => {
      const refused = (env: NodeJS.ProcessEnv, pattern: RegExp) =>
        assert.throws(
          () => loadTenantConfig({ DATA_DIR: dir, ...env }),
          (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
        );
      refused({ TLS_CERT_FILE: join(dir, 'nope.pem'), TLS_KEY_FILE: cert.keyFile }, /TLS_CERT_FILE points to .*nope\.pem, which does not exist/);
      refused({ TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: dir }, /TLS_KEY_FILE points to .*, which cannot be read \(EISDIR\)/);
      refused({ TLS_CERT_FILE: cert.certFile }, /TLS_CERT_FILE is set without TLS_KEY_FILE/);
      refused({ TLS_KEY_FILE: cert.keyFile }, /TLS_KEY_FILE is set without TLS_CERT_FILE/);
      // The CA's key with the server's certificate: both PEM, not a pair.
      refused({ TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: join(dir, 'ca.key') }, /cannot serve https: .*key values mismatch/);
      writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
      refused({ TLS_CERT_FILE: join(dir, 'garbage.pem'), TLS_KEY_FILE: cert.keyFile }, /cannot serve https/);
      refused({ ...tls(), TENANT_URL: 'http://127.0.0.1:4100' }, /TENANT_URL is http:\/\/127\.0\.0\.1:4100, but TLS_CERT_FILE is set/);
    });

    it('a certificate file that is missing is a failed start: exit 2, saying which setting', async () => {
      await assert.rejects(
        startAccord(childEnv({ DATA_DIR: dir, TENANT_PORT: String(await freePort()), TLS_CERT_FILE: join(dir, 'missing.pem'), TLS_KEY_FILE: cert.keyFile }), [
          'tenant',
        ]),
        (err: Error) => {
          assert.match(err.message, /exited with 2 before listening/);
          assert.match(err.message, /accord: TLS_CERT_FILE points to .*missing\.pem, which does not exist/);
          return true;
        },
      );
    });
  });

  it('without the CA in NODE_EXTRA_CA_CERTS the app cannot trust its tenant: a failed start that says what to set', async () => {
    const [tenantPort, appPort] = [await freePort(), await freePort()];
    await assert.rejects(
      startAccord(
        childEnv({
          DATA_DIR: join(dir, 'untrusted'),
          TENANT_PORT: String(tenantPort),
          PORT: String(appPort),
          TENANT_URL: `https://127.0.0.1:${tenantPort}`,
          APP_URL: `https://127.0.0.1:${appPort}`,
          TLS_CERT_FILE: cert.certFile,
          TLS_KEY_FILE: cert.keyFile,
        }),
        [],
        60_000,
      ),
      (err: Error) => {
        assert.match(err.message, /exited with 1 before listening/);
        assert.match(err.message, /Cannot read the tenant's OpenID configuration at https:\/\/127\.0\.0\.1:\d+\/: fetch failed: .*certificate/);
        assert.match(err.message, /The app does not trust the tenant's certificate: start it with NODE_EXTRA_CA_CERTS/);
        return true;
      },
    );
  });

  describe('npm start with both halves on https', () => {
    let accord: Awaited<ReturnType<typeof startAccord>>;
    let tenantUrl: string;
    let appUrl: string;
    before(async () => {
      const [tenantPort, appPort] = [await freePort(), await freePort()];
      tenantUrl = `https://127.0.0.1:${tenantPort}`;
      appUrl = `https://127.0.0.1:${appPort}`;
      accord = await startAccord(
        childEnv({
          DATA_DIR: join(dir, 'data'),
          TENANT_PORT: String(tenantPort),
          PORT: String(appPort),
          TENANT_URL: tenantUrl,
          APP_URL: appUrl,
          TLS_CERT_FILE: cert.certFile,
          TLS_KEY_FILE: cert.keyFile,
          // The app reaches its tenant over https, as a relying party reaches Auth0: it must trust the CA.
          NODE_EXTRA_CA_CERTS: cert.caFile,
        }),
        [],
        60_000,
      );
    });
    after(() => {
      accord?.child.kill('SIGKILL');
    });

    it('the tenant serves discovery over https with an https issuer and endpoints; health answers on both halves', async () => {
      const discovery = await get(`${tenantUrl}/.well-known/openid-configuration`, cert.ca);
      assert.equal(discovery.status, 200, discovery.body.slice(0, 300));
      const metadata = JSON.parse(discovery.body);
      assert.equal(metadata.issuer, `${tenantUrl}/`);
      assert.equal(metadata.authorization_endpoint, `${tenantUrl}/authorize`);
      assert.equal(metadata.jwks_uri, `${tenantUrl}/.well-known/jwks.json`);
      for (const url of [tenantUrl, appUrl]) {
        assert.equal((await get(`${url}/healthz`, cert.ca)).status, 200, `${url}/healthz`);
        assert.equal((await get(`${url}/readyz`, cert.ca)).status, 200, `${url}/readyz`);
      }
      assert.match(accord.output(), new RegExp(`Accord app is running: ${appUrl}/`));
    });

    it('the tenant and the app set their cookies Secure', async () => {
      const login = await get(`${appUrl}/login?connection=demo-social`, cert.ca);
      assert.ok([302, 303].includes(login.status), `${login.status} ${login.body.slice(0, 300)}`);
      const appCookies = cookiesOf(login);
      assert.ok(appCookies.length > 0, 'the app sets its session cookie on the way to the tenant');
      for (const c of appCookies) assert.match(c, /;\s*secure/i, c);
      const location = login.headers.location as string;
      assert.ok(location.startsWith(`${tenantUrl}/authorize?`), location);
      const authorize = await get(location, cert.ca);
      assert.equal(authorize.status, 303, authorize.body.slice(0, 300));
      const tenantCookies = cookiesOf(authorize);
      assert.ok(
        tenantCookies.some((c) => c.startsWith('_interaction=')),
        tenantCookies.join('\n'),
      );
      for (const c of tenantCookies) assert.match(c, /;\s*secure/i, c);
    });

    it('a person signs in to the app through the tenant, all over https', async () => {
      const b = new WebBrowser({ [tenantUrl]: tenantUrl, [appUrl]: appUrl }, { ca: cert.ca });
      await startSignIn(b, 'demo-social', appUrl);
      assert.ok(b.page.url.startsWith(`${tenantUrl}/demo-idp/`), b.page.url);
      const page = await enterDemoIdentity(b, { email: 'tls-person@example.com', name: 'Tee Ellis' });
      assert.equal(page.status, 200, page.text.slice(0, 300));
      assert.ok(page.url.startsWith(`${appUrl}/`), page.url);
      const profile = await b.open(`${appUrl}/profile`, { follow: false });
      assert.equal(profile.status, 200, 'signed in: the profile answers');
      assert.match(profile.text, /tls-person@example\.com/);
    });

    it("Chromium, trusting the test certificate, signs in to the app over https; both halves' cookies are Secure", {
      skip: browserTestsUnavailable(),
    }, async () => {
      const chromium = await launchChromium({ trustSpki: cert.spki });
      try {
        const context = await chromium.newContext();
        const page = await context.newPage();
        await page.goto(`${appUrl}/login?connection=demo-social`);
        await page.waitForURL(new RegExp(`^${tenantUrl}/demo-idp/`));
        await page.fill('input[name=email]', 'tls-chromium@example.com');
        await page.fill('input[name=name]', 'Chromium Person');
        await page.check('input[name=email_verified]');
        await page.click('button[value=login]');
        await page.waitForURL(new RegExp(`^${appUrl}/`));
        await page.goto(`${appUrl}/profile`);
        assert.equal(page.url(), `${appUrl}/profile`, 'signed in: the profile answers');
        assert.match(await page.content(), /tls-chromium@example\.com/);
        const cookies = await context.cookies([appUrl, tenantUrl]);
        assert.ok(cookies.some((c) => c.name === 'accord.sid'));
        for (const c of cookies) assert.equal(c.secure, true, `${c.name} on ${c.domain}`);
      } finally {
        await chromium.close();
      }
    });

    it('SIGTERM: the https servers drain and the process exits 0, even with a TCP connection that never began its handshake', async () => {
      // As a load balancer's port check leaves one: it must not hold the drain until the handshake times out.
      const silent = [tenantUrl, appUrl].map((url) => connect(Number(new URL(url).port), '127.0.0.1'));
      await Promise.all(silent.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
      accord.child.kill('SIGTERM');
      assert.equal(await accord.exited, 0, accord.output());
      assert.match(accord.output(), /"msg":"stopped"/);
      for (const socket of silent) socket.destroy();
    });
  });
});
