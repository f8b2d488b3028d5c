/** The app's last error handler: a dependency outage is a 503 page in words, and a page that cannot be rendered is text, never Express's default. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import express from 'express';
import supertest from 'supertest';
import { createLogger } from '../../src/platform/logger.ts';
import { errorPage } from '../../src/app/web/http-errors.ts';
import { ejsViewEngine } from '../../src/platform/view-engine.ts';

const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));

function appFailingWith(err: unknown, views = viewsDir) {
  const app = express();
  app.set('views', views);
  app.engine('ejs', ejsViewEngine(views));
  app.set('view engine', 'ejs');
  app.locals.appName = 'Accord';
  app.get('/page', () => {
    throw err;
  });
  app.use(errorPage(createLogger('silent')));
  return supertest(app);
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379'), { code: 'ECONNREFUSED', address: '10.0.0.7' });

describe('app error pages', () => {
  it('answers a dependency outage with 503, Retry-After and a page in words', async () => {
    const res = await appFailingWith(refused()).get('/page');
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '30');
    assert.match(res.headers['content-type']!, /^text\/html/);
    assert.match(res.text, /Sign-in is unavailable right now/);
    assert.doesNotMatch(res.text, /10\.0\.0\.7|ECONNREFUSED|\n\s+at /);
  });

  it('falls back to plain text when the error page itself cannot be rendered', async () => {
    const res = await appFailingWith(new Error('boom at /srv/secret.ts:12'), '/nonexistent-views').get('/page');
    assert.equal(res.status, 500);
    assert.match(res.headers['content-type']!, /^text\/plain/);
    assert.match(res.text, /Something went wrong/);
    assert.doesNotMatch(res.text, /boom|secret|\n\s+at /);
  });
});
