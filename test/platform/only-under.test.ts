import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import supertest from 'supertest';
import { onlyUnder, routersUnder } from '../../src/platform/only-under.ts';

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

/**
 * The routers a root could hold in a row, each answering, passing on or failing as routers do,
 * and a log of what entered which: once as consecutive onlyUnder layers (the old way), once as
 * one routersUnder layer.
 */
function rootsOf(entered: string[]) {
  const routers = (): Array<[string[], Parameters<typeof onlyUnder>[1]]> => {
    const login = Router();
    login.use((req, _res, next) => {
      entered.push(`login ${req.path}`);
      next();
    });
    login.get('/login/:uid', (req, res) => {
      res.send(`login ${req.params.uid}`);
    });
    login.get('/login/:uid/throws', () => {
      throw new Error('thrown in login');
    });
    login.get('/login/:uid/rejects', async () => {
      throw new Error('rejected in login');
    });
    login.get('/login/:uid/route', (_req, _res, next) => next('route'));
    const callback = Router();
    callback.use((req, _res, next) => {
      entered.push(`callback ${req.path}`);
      next();
    });
    callback.get('/login/callback/:name', (req, res) => {
      res.send(`callback ${req.params.name}`);
    });
    const mounted = Router().use('/css', (req: Request, res: Response, next: NextFunction) => {
      entered.push(`css ${req.url} ${req.baseUrl}`);
      if (req.path === '/a.css') return res.send('css a');
      next();
    });
    const failing = (_req: Request, _res: Response, next: NextFunction) => next(new Error('passed on in dev'));
    const rejecting = async () => {
      throw new Error('rejected in account');
    };
    return [
      [['/login/callback'], callback],
      [['/login'], login],
      [['/css'], mounted],
      [['/dev/mail', '/dev/mail.json'], failing],
      [['/account'], rejecting],
    ];
  };
  const finish = (root: express.Express) => {
    root.use((req, res) => {
      entered.push(`after ${req.url}`);
      res.send(`after ${req.url}`);
    });
    root.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      res.status(500).send(`error: ${err.message}`);
    });
    return root;
  };
  const layered = express();
  for (const [prefixes, handler] of routers()) layered.use(onlyUnder(prefixes, handler));
  const grouped = express();
  grouped.use(routersUnder(routers()));
  return { layered: finish(layered), grouped: finish(grouped) };
}

describe('routersUnder: consecutive onlyUnder routers behind one test', () => {
  it('answers every path as the consecutive layers did: the same routers entered in the same order, the same answer', async () => {
    const paths = [
      '/login/abc',
      '/LOGIN/abc/',
      '/login',
      '/login/callback/x',
      '/login/callback/x/y',
      '/login/abc/throws',
      '/login/abc/rejects',
      '/login/abc/route',
      '/css/a.css',
      '/CSS/b.css?v=1',
      '/dev/mail',
      '/dev/mail.json',
      '/account/x',
      '/authorize',
      '/loginx',
      '/x/login/abc',
      '/',
    ];
    for (const path of paths) {
      const seenLayered: string[] = [];
      const seenGrouped: string[] = [];
      const a = await supertest(rootsOf(seenLayered).layered).get(path);
      const b = await supertest(rootsOf(seenGrouped).grouped).get(path);
      assert.equal(b.status, a.status, path);
      assert.equal(b.text, a.text, path);
      assert.deepEqual(seenGrouped, seenLayered, path);
    }
  });

  it('enters none of its routers for a path under none of their prefixes', async () => {
    const seen: string[] = [];
    const { grouped } = rootsOf(seen);
    for (const path of ['/authorize', '/oauth/token', '/loginx/abc', '/accounts', '/dev/mailxjson']) {
      assert.equal((await supertest(grouped).get(path)).text, `after ${path}`, path);
    }
    assert.deepEqual(
      seen.filter((s) => !s.startsWith('after')),
      [],
    );
  });
});
