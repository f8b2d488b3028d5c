import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppConfigError, loadAppConfig, usesExternalTenant, type EmbeddedTenantWiring } from '../../src/app/app-config.ts';
import { estimateSecretBits, MIN_SESSION_SECRET_BITS } from '../../src/app/session-secret.ts';

const SECRET = randomBytes(32).toString('base64url');

const EMBEDDED: EmbeddedTenantWiring = {
  issuer: 'http://127.0.0.1:4000/',
  clientId: 'embedded-app',
  clientSecret: 'embedded-secret',
  managementClientId: 'embedded-m2m',
  managementClientSecret: 'embedded-m2m-secret',
};

/** What an Auth0 deployment sets, besides the tenant's address. */
const CREDENTIALS = {
  CLIENT_ID: 'auth0-app',
  CLIENT_SECRET: 'auth0-app-secret',
  MANAGEMENT_CLIENT_ID: 'auth0-m2m',
  MANAGEMENT_CLIENT_SECRET: 'auth0-m2m-secret',
};

/** Asserts loadAppConfig refuses `env` with an AppConfigError whose message matches every pattern. */
function assertRefused(env: NodeJS.ProcessEnv, patterns: RegExp[], embedded?: EmbeddedTenantWiring): void {
  assert.throws(
    () => loadAppConfig(env, embedded),
    (err: unknown) => {
      assert.ok(err instanceof AppConfigError, `an AppConfigError, not ${String(err)}`);
      for (const pattern of patterns) assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('loadAppConfig', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'accord-app-config-'));
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A base environment that never writes into the repository's var/. */
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ SESSION_SECRET: SECRET, DATA_DIR: dataDir, ...extra });

  describe('which tenant', () => {
    it('uses the embedded wiring when no external tenant is named: basic client auth, audience under the issuer', () => {
      const config = loadAppConfig(env(), EMBEDDED);
      assert.equal(config.issuer, 'http://127.0.0.1:4000', 'no trailing slash');
      assert.equal(config.clientId, 'embedded-app');
      assert.equal(config.clientSecret, 'embedded-secret');
      assert.equal(config.clientAuthMethod, 'client_secret_basic');
      assert.deepEqual(config.management, { clientId: 'embedded-m2m', clientSecret: 'embedded-m2m-secret', audience: 'http://127.0.0.1:4000/api/v2/' });
      assert.equal(usesExternalTenant(env()), false);
    });

    it('refuses to start with neither an external tenant nor the embedded one, saying what to set', () => {
      assertRefused(env(), [/ISSUER_BASE_URL/, /AUTH0_DOMAIN/, /CLIENT_ID/, /MANAGEMENT_CLIENT_SECRET/, /npm start/]);
    });

    it("ISSUER_BASE_URL wins over the embedded wiring: its credentials, client_secret_post (Auth0's default)", () => {
      const e = env({ ISSUER_BASE_URL: 'https://login.example.com/', ...CREDENTIALS });
      const config = loadAppConfig(e, EMBEDDED);
      assert.equal(config.issuer, 'https://login.example.com');
      assert.equal(config.clientId, 'auth0-app');
      assert.equal(config.clientSecret, 'auth0-app-secret');
      assert.equal(config.clientAuthMethod, 'client_secret_post');
      assert.deepEqual(config.management, { clientId: 'auth0-m2m', clientSecret: 'auth0-m2m-secret', audience: 'https://login.example.com/api/v2/' });
      assert.equal(usesExternalTenant(e), true);
    });

    it('AUTH0_DOMAIN becomes an https issuer with the Management API audience under it', () => {
      const e = env({ AUTH0_DOMAIN: 'example.eu.auth0.com', ...CREDENTIALS });
      const config = loadAppConfig(e);
      assert.equal(config.issuer, 'https://example.eu.auth0.com');
      assert.equal(config.management.audience, 'https://example.eu.auth0.com/api/v2/');
      assert.equal(config.clientAuthMethod, 'client_secret_post');
      assert.equal(usesExternalTenant(e), true);
    });

    it('ISSUER_BASE_URL takes precedence over AUTH0_DOMAIN', () => {
      const config = loadAppConfig(env({ ISSUER_BASE_URL: 'https://custom.example.com', AUTH0_DOMAIN: 'example.auth0.com', ...CREDENTIALS }));
      assert.equal(config.issuer, 'https://custom.example.com');
    });

    it('CLIENT_AUTH_METHOD and MANAGEMENT_AUDIENCE override the defaults', () => {
      const config = loadAppConfig(
        env({
          AUTH0_DOMAIN: 'example.auth0.com',
          ...CREDENTIALS,
          CLIENT_AUTH_METHOD: 'client_secret_basic',
          MANAGEMENT_AUDIENCE: 'https://example.auth0.com/api/v2/',
        }),
      );
      assert.equal(config.clientAuthMethod, 'client_secret_basic');
      assert.equal(config.management.audience, 'https://example.auth0.com/api/v2/');
      assert.equal(loadAppConfig(env({ CLIENT_AUTH_METHOD: 'client_secret_post' }), EMBEDDED).clientAuthMethod, 'client_secret_post');
    });

    it('an external tenant needs all four credentials; the error lists exactly the missing ones', () => {
      for (const tenant of [{ ISSUER_BASE_URL: 'https://login.example.com' }, { AUTH0_DOMAIN: 'example.auth0.com' }]) {
        // The embedded wiring never fills in for an external tenant.
        assertRefused(env(tenant), [/CLIENT_ID, CLIENT_SECRET, MANAGEMENT_CLIENT_ID, MANAGEMENT_CLIENT_SECRET/, /Running against Auth0/], EMBEDDED);
        const { CLIENT_SECRET: _s, MANAGEMENT_CLIENT_ID: _m, ...some } = CREDENTIALS;
        assert.throws(
          () => loadAppConfig(env({ ...tenant, ...some })),
          (err: Error) => {
            assert.ok(err instanceof AppConfigError);
            assert.match(err.message, /needs CLIENT_SECRET, MANAGEMENT_CLIENT_ID \(/);
            return true;
          },
        );
        // An empty value is as good as missing.
        assertRefused(env({ ...tenant, ...CREDENTIALS, CLIENT_SECRET: '' }), [/CLIENT_SECRET/]);
      }
    });

    it('refuses malformed tenant addresses, naming the variable', () => {
      assertRefused(env({ AUTH0_DOMAIN: 'https://example.auth0.com', ...CREDENTIALS }), [/AUTH0_DOMAIN/, /host name/]);
      assertRefused(env({ AUTH0_DOMAIN: 'example.auth0.com/path', ...CREDENTIALS }), [/AUTH0_DOMAIN/]);
      assertRefused(env({ ISSUER_BASE_URL: 'not a url', ...CREDENTIALS }), [/ISSUER_BASE_URL/]);
      assertRefused(env({ CLIENT_AUTH_METHOD: 'private_key_jwt' }), [/CLIENT_AUTH_METHOD/], EMBEDDED);
    });

    it('refuses an APP_URL or ISSUER_BASE_URL that is not http(s)', () => {
      assertRefused(env({ APP_URL: 'localhost:3000' }), [/APP_URL/], EMBEDDED);
      assertRefused(env({ APP_URL: 'ftp://accounts.example.com' }), [/APP_URL/], EMBEDDED);
      assertRefused(env({ ISSUER_BASE_URL: 'javascript:alert(1)', ...CREDENTIALS }), [/ISSUER_BASE_URL/]);
    });
  });

  describe('session secret', () => {
    it('is required in production', () => {
      assertRefused({ NODE_ENV: 'production', DATA_DIR: dataDir }, [/SESSION_SECRET is required when NODE_ENV=production/], EMBEDDED);
      assert.equal(existsSync(join(dataDir, 'app-session-secret')), false, 'production never generates one');
      assert.equal(loadAppConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, SESSION_SECRET: SECRET }, EMBEDDED).sessionSecret, SECRET);
    });

    it('must be at least 32 characters', () => {
      assertRefused(env({ SESSION_SECRET: 'short' }), [/SESSION_SECRET/, /32/, /openssl rand -base64 32/], EMBEDDED);
    });

    /** Low-entropy values of every kind the estimator must catch. */
    const WEAK = [
      'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', // the issue's own example
      'A'.repeat(43) + '=',
      'ab'.repeat(16),
      'xk3Q'.repeat(8),
      'abcdefghijklmnopqrstuvwxyz012345',
      '0123456789abcdef0123456789abcdef',
      'qwertyuiopasdfghjklzxcvbnm123456',
      '01010110101010011010101001011010',
      'Password1234567890Password1234567890',
      'changeme-changeme-changeme-changeme',
      'ThisIsMyVerySecretSessionSecretForProduction2024!',
      'my super secret session key for the accord app',
      // Values printed as examples in Accord's own repository.
      'a-session-secret-of-at-least-32-characters',
      'test-session-secret-that-is-long-enough-0123',
    ];

    it('in production, a low-entropy or example value is refused, saying how to make a good one (docs/security.md case 36)', () => {
      for (const secret of WEAK) {
        assertRefused(
          { NODE_ENV: 'production', DATA_DIR: dataDir, SESSION_SECRET: secret },
          [/SESSION_SECRET is too weak: /, /(not random enough|example value)/, /openssl rand -base64 32/, /randomBytes\(32\)/],
          EMBEDDED,
        );
      }
      assertRefused({ NODE_ENV: 'production', DATA_DIR: dataDir }, [/SESSION_SECRET is required/, /openssl rand -base64 32/], EMBEDDED);
    });

    it('in production, what openssl rand and crypto.randomBytes make is accepted, every time (docs/security.md case 36)', () => {
      const recipes: [string, () => string][] = [
        ['openssl rand -hex 16', () => randomBytes(16).toString('hex')],
        ['openssl rand -base64 24', () => randomBytes(24).toString('base64')],
        ['openssl rand -base64 32', () => randomBytes(32).toString('base64')],
        ['randomBytes(32) base64url', () => randomBytes(32).toString('base64url')],
        ['openssl rand -hex 32', () => randomBytes(32).toString('hex')],
      ];
      for (const [recipe, make] of recipes) {
        for (let i = 0; i < 2000; i++) {
          const secret = make();
          assert.ok(estimateSecretBits(secret) >= MIN_SESSION_SECRET_BITS, `${recipe}: ${secret} estimates ${estimateSecretBits(secret)} bits`);
          assert.equal(loadAppConfig({ NODE_ENV: 'production', DATA_DIR: dataDir, SESSION_SECRET: secret }, EMBEDDED).sessionSecret, secret);
        }
      }
    });

    it('outside production, a weak value is accepted with a warning that says it would be refused (docs/security.md case 36)', () => {
      for (const nodeEnv of ['development', 'test']) {
        const config = loadAppConfig(env({ NODE_ENV: nodeEnv, SESSION_SECRET: 'a'.repeat(32) }), EMBEDDED);
        assert.equal(config.sessionSecret, 'a'.repeat(32));
        assert.equal(config.warnings.length, 1);
        assert.match(config.warnings[0]!, /SESSION_SECRET is too weak .*refused with NODE_ENV=production.*openssl rand -base64 32/);
        assert.doesNotMatch(config.warnings[0]!, /a{32}/, 'the warning never repeats the secret');
      }
      assert.deepEqual(loadAppConfig(env(), EMBEDDED).warnings, [], 'a strong secret: no warning');
    });

    it('the documentation shows how to make a secret, and any SESSION_SECRET value it prints is refused (docs/security.md case 36)', () => {
      const root = new URL('../../', import.meta.url);
      for (const file of ['README.md', '.env.example']) {
        const text = readFileSync(new URL(file, root), 'utf8');
        assert.match(text, /openssl rand -base64 32/, `${file} says how to make one`);
        for (const [, value] of text.matchAll(/SESSION_SECRET=([^\s`'"…]+)/g)) {
          assertRefused({ NODE_ENV: 'production', DATA_DIR: dataDir, SESSION_SECRET: value! }, [/SESSION_SECRET/], EMBEDDED);
        }
      }
    });

    it('outside production, one is generated in DATA_DIR with mode 0600 and reused on the next start', () => {
      const dir = join(dataDir, 'nested', 'data');
      const first = loadAppConfig({ DATA_DIR: dir }, EMBEDDED);
      const file = join(dir, 'app-session-secret');
      assert.ok(first.sessionSecret.length >= 32, 'a strong secret');
      assert.equal(readFileSync(file, 'utf8').trim(), first.sessionSecret);
      assert.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only');
      assert.equal(loadAppConfig({ DATA_DIR: dir }, EMBEDDED).sessionSecret, first.sessionSecret, 'sessions survive a restart');
      assert.equal(loadAppConfig({ DATA_DIR: dir, SESSION_SECRET: SECRET }, EMBEDDED).sessionSecret, SECRET, 'SESSION_SECRET wins');
      const other = join(dataDir, 'other');
      assert.notEqual(loadAppConfig({ DATA_DIR: other }, EMBEDDED).sessionSecret, first.sessionSecret, 'each data directory has its own');
    });
  });

  describe('invalid values are refused with the variable named', () => {
    const cases: [string, string][] = [
      ['PORT', 'abc'],
      ['PORT', '70000'],
      ['PORT', '-1'],
      ['PORT', '80.5'],
      ['REDIS_URL', 'http://127.0.0.1:6379'],
      ['REDIS_URL', '127.0.0.1:6379'],
      ['REDIS_PREFIX', 'two words'],
      ['REDIS_PREFIX', ''],
      ['LINK_MAX_AGE', 'soon'],
      ['LINK_MAX_AGE', '5'],
      ['LINK_MAX_AGE', '99999'],
      ['RECENT_LOGIN_MAX_AGE', '0'],
      ['SESSION_TTL', '10'],
      ['LINK_RATE_LIMIT', '0'],
      ['DATABASE_URL', 'mysql://x'],
      ['APP_DATABASE_URL', 'sqlite:app.db'],
      ['LINK_SUGGESTIONS', 'maybe'],
      ['NODE_ENV', 'staging'],
    ];
    for (const [name, value] of cases) {
      it(`${name}=${value}`, () => {
        assertRefused(env({ [name]: value }), [/^Invalid environment: /, new RegExp(`\\b${name}\\b`)], EMBEDDED);
      });
    }
  });

  describe('other settings', () => {
    it('has working defaults', () => {
      const config = loadAppConfig(env(), EMBEDDED);
      assert.equal(config.env, 'development');
      assert.equal(config.port, 3000);
      assert.equal(config.url, 'http://localhost:3000');
      assert.equal(config.sqliteFile, join(dataDir, 'app.sqlite'));
      assert.equal(config.databaseUrl, undefined);
      assert.equal(config.redisUrl, undefined);
      assert.equal(config.redisPrefix, 'accord:');
      assert.equal(config.mergeStrategy, 'primary-wins');
      assert.equal(config.linkMaxAge, 300);
      assert.equal(config.recentLoginMaxAge, 600);
      assert.equal(config.suggestions, true);
      assert.equal(config.restoreMetadataOnUnlink, false);
      assert.equal(config.trustProxy, false);
    });

    it('reads each variable', () => {
      const config = loadAppConfig(
        env({
          PORT: '8080',
          APP_URL: 'https://accounts.example.com/',
          REDIS_URL: 'rediss://cache.example.com:6380',
          REDIS_PREFIX: 'shop-eu:accord:',
          DATABASE_URL: 'postgres://tenant@db/accord',
          APP_DATABASE_URL: 'postgresql://app@db/accord_app',
          LINK_MAX_AGE: '120',
          RECENT_LOGIN_MAX_AGE: '60',
          LINK_RATE_LIMIT: '3',
          LINK_SUGGESTIONS: 'off',
          RESTORE_METADATA_ON_UNLINK: '1',
          TRUST_PROXY: 'true',
          MERGE_STRATEGY: 'secondary-wins',
          APP_NAME: 'Example',
        }),
        EMBEDDED,
      );
      assert.equal(config.port, 8080);
      assert.equal(config.url, 'https://accounts.example.com', 'no trailing slash');
      assert.equal(config.redisUrl, 'rediss://cache.example.com:6380');
      assert.equal(config.redisPrefix, 'shop-eu:accord:');
      assert.equal(config.databaseUrl, 'postgresql://app@db/accord_app', 'APP_DATABASE_URL before DATABASE_URL');
      assert.equal(config.linkMaxAge, 120);
      assert.equal(config.recentLoginMaxAge, 60);
      assert.equal(config.linkAttemptsPer15Min, 3);
      assert.equal(config.suggestions, false);
      assert.equal(config.restoreMetadataOnUnlink, true);
      assert.equal(config.trustProxy, true);
      assert.equal(config.mergeStrategy, 'secondary-wins');
      assert.equal(config.name, 'Example');
      assert.equal(
        loadAppConfig(env({ DATABASE_URL: 'postgres://tenant@db/accord' }), EMBEDDED).databaseUrl,
        'postgres://tenant@db/accord',
        'one database for both halves',
      );
    });
  });
});
