import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express, { Router } from 'express';
import supertest from 'supertest';
import { onlyUnder } from '../../src/platform/only-under.ts';

/** A root app with one guarded router, as the tenant mounts them, and what answers each path. */
function app() {
  const router = Router();
  let entered = 0;
  router.use((_req, _res, next) => {
    entered++;
    next();
  });
  router.get('/login/:uid', (req, res) => {
    res.send(`router ${req.params.uid}`);
  });
  router.get('/dev/mail.json', (_req, res) => {
    res.send('router mail');
  });
  const root = express();
  root.use(onlyUnder(['/login', '/dev/mail.json'], router));
  root.use((_req, res) => {
    res.send('after');
  });
  return { root, entered: () => entered };
}

describe('onlyUnder: a router at the root entered only for its own paths', () => {
  it('enters the router for its prefixes, as Express matches routes: any case, a trailing slash', async () => {
    const { root, entered } = app();
    assert.equal((await supertest(root).get('/login/abc')).text, 'router abc');
    assert.equal((await supertest(root).get('/LOGIN/abc/')).text, 'router abc');
    assert.equal((await supertest(root).get('/dev/mail.json')).text, 'router mail');
    assert.equal((await supertest(root).get('/login')).text, 'after'); // entered, no route of its own there
    assert.equal(entered(), 4);
  });

  it('passes every other path on without entering the router', async () => {
    const { root, entered } = app();
    for (const path of ['/', '/loginx/abc', '/authorize', '/dev/mail', '/dev/mailxjson', '/x/login/abc']) {
      assert.equal((await supertest(root).get(path)).text, 'after', path);
    }
    assert.equal(entered(), 0);
  });
});
