/**
 * Two tenant processes on one PostgreSQL schema, started for real (`src/main.ts tenant`), as an
 * operator who outgrew one process runs them behind a load balancer: concurrent starts from an
 * empty database, the Management API's rate limit shared by both, and a storm of link/unlink
 * calls through both with a `kill -9` and a restart of one of them in the middle, checked in SQL
 * afterwards (nothing acknowledged lost, the directory invariant, the audit trail).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openTenantDatabase, type Database } from '../../src/tenant/tenant-database.ts';
import { ClientRegistry, MANAGEMENT_SCOPES } from '../../src/tenant/clients/client-registry.ts';
import { ConnectionRegistry, defaultConnections } from '../../src/tenant/connections.ts';
import { Directory } from '../../src/tenant/directory/directory.ts';
import { ACTOR, identityOwners } from '../helpers/directory.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { assertDirectoryInvariant } from '../helpers/invariants.ts';
import { childEnv, freePort, startAccord } from '../helpers/processes.ts';
import { adminQuery } from '../helpers/database-variants.ts';

const url = process.env.DATABASE_URL;
const postgres = url !== undefined && /^postgres(ql)?:\/\//.test(url);
const RATE_LIMIT = 400;
const PRIMARIES = 12;
const SECONDARIES = 48;
const ROUNDS = 8;
const CALLS_PER_ROUND = 40;
/** The round in which one process is killed (kill -9) once some of its calls are answered, then restarted. */
const KILL_ROUND = 3;

/** A small deterministic PRNG, so a failing storm can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface Call {
  kind: 'link' | 'unlink';
  primary: string;
  secondary: string;
  round: number;
  /** Index of the process it went to. */
  via: number;
  /** The HTTP status, or undefined when no answer came (the process was killed). */
  status?: number;
  body?: unknown;
}

type TenantProcess = Awaited<ReturnType<typeof startAccord>>;

/** A process's last warnings and errors, to say why it answered as it did. */
const problemsLogged = (p: TenantProcess | undefined) =>
  (p?.output() ?? '')
    .split('\n')
    .filter((line) => /"level":(40|50|60)/.test(line))
    .slice(-10)
    .join('\n');

describe('two tenant processes on one PostgreSQL database', {
  skip: postgres ? false : 'DATABASE_URL is not set (set DATABASE_URL=postgres://… to run it)',
}, () => {
  const schema = `accord_two_${randomBytes(5).toString('hex')}`;
  const ports: number[] = [];
  const processes: (TenantProcess | undefined)[] = [undefined, undefined];
  let issuer: string;
  let env: (port: number) => NodeJS.ProcessEnv;
  let database: Database;
  let token: (clientIndex?: number) => Promise<string>;

  const base = (i: number) => `http://127.0.0.1:${ports[i]}`;
  // Generous: two processes compiling TypeScript at once on a busy machine.
  const start = async (i: number) => {
    processes[i] = await startAccord(env(ports[i]!), ['tenant'], 90_000);
  };

  before(async () => {
    await adminQuery(url!, `create schema ${schema}`);
    ports.push(await freePort(), await freePort());
    // One issuer for both, as behind a load balancer: a token from either is valid at both.
    issuer = `http://127.0.0.1:${ports[0]}`;
    const databaseUrl = `${url}${url!.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}&application_name=accord-two-processes`;
    env = (port) =>
      childEnv({
        DATABASE_URL: databaseUrl,
        TENANT_PORT: String(port),
        TENANT_URL: issuer,
        LOG_LEVEL: 'info',
        MANAGEMENT_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
      });
    database = openTenantDatabase({ databaseUrl: url, pgSchema: schema });
  });

  after(async () => {
    for (const p of processes) p?.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p?.exited));
    await database?.close();
    await adminQuery(url!, `drop schema if exists ${schema} cascade`);
  });

  it('start at once from an empty database: migrations applied once, signing keys shared, a token of one accepted by the other', async () => {
    await Promise.all([start(0), start(1)]);
    const migrations = (await database.db
      .selectFrom('kysely_migration' as never)
      .select('name' as never)
      .execute()) as { name: string }[];
    assert.equal(new Set(migrations.map((m) => m.name)).size, migrations.length, 'each migration once');
    const jwks = await Promise.all([0, 1].map(async (i) => (await fetch(`${base(i)}/.well-known/jwks.json`)).json()));
    assert.deepEqual(jwks[0], jwks[1]);

    const registry = new ClientRegistry(database.db);
    const clients = await Promise.all(
      Array.from({ length: 9 }, (_, i) => registry.create({ name: `storm-${i}`, grantTypes: ['client_credentials'], scopes: [...MANAGEMENT_SCOPES] })),
    );
    const tokens = new Map<number, Promise<string>>();
    token = (clientIndex = 0) => {
      if (!tokens.has(clientIndex)) {
        const client = clients[clientIndex]!;
        // Alternate which process issues them.
        tokens.set(
          clientIndex,
          fetch(`${base(clientIndex % 2)}/oauth/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              grant_type: 'client_credentials',
              client_id: client.client_id,
              client_secret: client.client_secret,
              audience: `${issuer}/api/v2/`,
            }),
          }).then(async (res) => {
            assert.equal(res.status, 200, await res.clone().text());
            return ((await res.json()) as { access_token: string }).access_token;
          }),
        );
      }
      return tokens.get(clientIndex)!;
    };
    const fromFirst = await token(0);
    const res = await fetch(`${base(1)}/api/v2/users?per_page=1`, { headers: { authorization: `Bearer ${fromFirst}` } });
    assert.equal(res.status, 200, 'a token issued by the first process, accepted by the second');
  });

  it(`share the Management API rate limit (${RATE_LIMIT} per client per minute): both together allow it once, with Auth0's headers`, async () => {
    const limited = await token(8);
    const answers: { via: number; status: number; headers: Headers; body: unknown }[] = [];
    // Eight callers at once, each alternating between the processes: 500 calls in all.
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let k = 0; k < 500 / 8; k++) {
          const via = (worker + k) % 2;
          const res = await fetch(`${base(via)}/api/v2/users?per_page=1`, { headers: { authorization: `Bearer ${limited}` } });
          answers.push({ via, status: res.status, headers: res.headers, body: await res.json() });
        }
      }),
    );
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(ok.length + refused.length, answers.length, `only 200 and 429: ${[...new Set(answers.map((a) => a.status))]}`);
    assert.equal(ok.length, RATE_LIMIT, 'exactly the limit, across both processes');
    assert.ok(ok.some((a) => a.via === 0) && ok.some((a) => a.via === 1) && refused.some((a) => a.via === 0) && refused.some((a) => a.via === 1));
    for (const a of answers) {
      assert.equal(a.headers.get('x-ratelimit-limit'), String(RATE_LIMIT));
      assert.match(a.headers.get('x-ratelimit-remaining')!, /^\d+$/);
      assert.match(a.headers.get('x-ratelimit-reset')!, /^\d+$/);
    }
    const resets = new Set(answers.map((a) => Number(a.headers.get('x-ratelimit-reset'))));
    assert.ok(Math.max(...resets) - Math.min(...resets) <= 1, `one window for both processes: ${[...resets]}`);
    assert.ok(Math.min(...resets) > Date.now() / 1000, 'the window ends in the future (epoch seconds)');
    for (const a of refused) {
      assert.deepEqual(a.body, { statusCode: 429, error: 'Too Many Requests', message: 'Global limit has been reached', errorCode: 'too_many_requests' });
      assert.equal(a.headers.get('x-ratelimit-remaining'), '0');
      assert.match(a.headers.get('retry-after')!, /^\d+$/);
    }
    assert.equal((await fetch(`${base(1)}/api/v2/users?per_page=1`, { headers: { authorization: `Bearer ${await token(0)}` } })).status, 200, 'per client');
  });

  it(`a link/unlink storm through both (${ROUNDS * CALLS_PER_ROUND} calls, a quarter of them conflicting links), one kill -9 and a restart: nothing acknowledged lost, invariant and audit trail intact`, async () => {
    const directory = new Directory(database, new ConnectionRegistry(defaultConnections()));
    const primaries: string[] = [];
    const secondaries: string[] = [];
    for (let i = 0; i < PRIMARIES; i++)
      primaries.push((await directory.createUser({ connection: 'email', email: uniqueEmail(`two-p${i}`), email_verified: true }, ACTOR)).user_id);
    for (let i = 0; i < SECONDARIES; i++)
      secondaries.push((await directory.createUser({ connection: 'email', email: uniqueEmail(`two-s${i}`), email_verified: true }, ACTOR)).user_id);
    const firstEvent = Number(
      (
        await database.db
          .selectFrom('audit_events')
          .select((eb) => eb.fn.max('seq').as('seq'))
          .executeTakeFirst()
      )?.seq ?? 0,
    );
    const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => token(i)));
    const random = prng(20_261_201);
    const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;
    const calls: Call[] = [];
    let killed = false;

    const send = async (call: Call, onAnswer: () => void): Promise<void> => {
      const headers = { authorization: `Bearer ${tokens[calls.indexOf(call) % tokens.length]}`, 'content-type': 'application/json' };
      const user = `${base(call.via)}/api/v2/users/${encodeURIComponent(call.primary)}/identities`;
      const id = call.secondary.slice(call.secondary.indexOf('|') + 1);
      try {
        const res =
          call.kind === 'link'
            ? await fetch(user, { method: 'POST', headers, body: JSON.stringify({ provider: 'email', user_id: id }) })
            : await fetch(`${user}/email/${encodeURIComponent(id)}`, { method: 'DELETE', headers });
        call.body = await res.json();
        call.status = res.status;
      } catch {
        // No answer: the process died with the call in flight or before it arrived.
      }
      onAnswer();
    };

    for (let round = 0; round < ROUNDS; round++) {
      const owners = await identityOwners(database);
      const free = secondaries.filter((s) => owners.get(s) === s);
      const linked = secondaries.filter((s) => owners.get(s) !== s);
      const round_: Call[] = [];
      // A quarter of the calls are conflicting links: pairs linking one free secondary into two primaries, one through each process.
      const shuffledFree = [...free].sort(() => random() - 0.5);
      const contested = shuffledFree.splice(0, CALLS_PER_ROUND / 8);
      for (const secondary of contested) {
        const [p1, p2] = [...primaries].sort(() => random() - 0.5);
        round_.push({ kind: 'link', primary: p1!, secondary, round, via: 0 }, { kind: 'link', primary: p2!, secondary, round, via: 1 });
      }
      // The rest touch one secondary each: unlink it from its owner, or link it into a primary.
      const rest = [...shuffledFree, ...linked].sort(() => random() - 0.5).slice(0, CALLS_PER_ROUND - round_.length);
      for (const secondary of rest) {
        const owner = owners.get(secondary)!;
        round_.push(
          owner === secondary
            ? { kind: 'link', primary: pick(primaries), secondary, round, via: round_.length % 2 }
            : { kind: 'unlink', primary: owner, secondary, round, via: round_.length % 2 },
        );
      }
      calls.push(...round_);

      if (round !== KILL_ROUND) {
        await Promise.all(round_.map((call) => send(call, () => {})));
        continue;
      }
      // Kill the first process once some of its calls are answered, the others still in flight.
      const victim = processes[0]!;
      let answeredByVictim = 0;
      let kill!: () => void;
      const killNow = new Promise<void>((resolve) => {
        kill = resolve;
      });
      const inFlight = Promise.all(
        round_.map((call) =>
          send(call, () => {
            if (call.via === 0 && ++answeredByVictim === 4) kill();
          }),
        ),
      );
      await Promise.race([killNow, inFlight]);
      victim.child.kill('SIGKILL');
      killed = true;
      await inFlight;
      await victim.exited;
      await start(0);
      const res = await fetch(`${base(0)}/api/v2/users?per_page=1`, { headers: { authorization: `Bearer ${tokens[0]}` } });
      assert.equal(res.status, 200, 'the restarted process accepts a token issued before its death');
    }
    assert.ok(killed);

    // Every answer is a success or a refusal a race may give, never a 5xx.
    const answered = calls.filter((c) => c.status !== undefined);
    const unanswered = calls.filter((c) => c.status === undefined);
    assert.ok(unanswered.length > 0 && unanswered.every((c) => c.round === KILL_ROUND && c.via === 0), 'calls died with the process, and only those');
    for (const c of answered) {
      const what = `round ${c.round}: ${c.kind} ${c.secondary} ${c.kind === 'link' ? 'into' : 'from'} ${c.primary} via ${c.via} → ${c.status} ${JSON.stringify(c.body)}`;
      assert.ok(c.status! < 500, `${what}\n${problemsLogged(processes[c.via])}`);
      if (c.status! >= 400)
        assert.ok(['link_identity_in_use', 'link_secondary_not_found', 'conflict'].includes((c.body as { errorCode: string }).errorCode), what);
      else assert.equal(c.status, c.kind === 'link' ? 201 : 200, what);
    }
    const acknowledged = answered.filter((c) => c.status === 201 || c.status === 200);
    assert.ok(acknowledged.length > (CALLS_PER_ROUND * ROUNDS) / 2, `${acknowledged.length} changes acknowledged`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const secondary of secondaries) {
        const won = acknowledged.filter((c) => c.round === round && c.secondary === secondary && c.kind === 'link');
        assert.ok(won.length <= 1, `round ${round}: ${secondary} linked ${won.length} times at once`);
      }
    }

    // In SQL: the invariant.
    const counts = await assertDirectoryInvariant(database);
    assert.equal(counts.identities, PRIMARIES + SECONDARIES, 'no identity lost or duplicated');
    const owners = await identityOwners(database);
    for (const primary of primaries) assert.equal(owners.get(primary), primary, 'primaries stay users');

    // Nothing acknowledged lost: where the last call on a secondary was acknowledged, the database shows its result.
    for (const secondary of secondaries) {
      const last = calls.filter((c) => c.secondary === secondary).at(-1);
      const lastAcknowledged = last && acknowledged.filter((c) => c.secondary === secondary && c.round === last.round);
      if (!last || last.status === undefined || lastAcknowledged!.length === 0) continue;
      const expected = lastAcknowledged![0]!.kind === 'link' ? lastAcknowledged![0]!.primary : secondary;
      assert.equal(owners.get(secondary), expected, `${secondary}: its last acknowledged change (round ${last.round})`);
    }

    // The audit trail: one event per acknowledged change (and none for a refused one), and
    // replayed in order from the state before the storm it gives exactly the state after it.
    const events = (
      await database.db
        .selectFrom('audit_events')
        .select(['seq', 'type', 'details'])
        .where('seq', '>', firstEvent)
        .where('type', 'in', ['identity.linked', 'identity.unlinked'])
        .orderBy('seq')
        .execute()
    ).map((e) => ({ type: e.type, ...(JSON.parse(e.details) as { primary_id: string; secondary_id: string }) }));
    const key = (kind: string, primary: string, secondary: string) => `${kind}:${primary}:${secondary}`;
    const tally = (list: { kind: string; primary: string; secondary: string }[]) => {
      const map = new Map<string, number>();
      for (const c of list) map.set(key(c.kind, c.primary, c.secondary), (map.get(key(c.kind, c.primary, c.secondary)) ?? 0) + 1);
      return map;
    };
    const logged = tally(events.map((e) => ({ kind: e.type === 'identity.linked' ? 'link' : 'unlink', primary: e.primary_id, secondary: e.secondary_id })));
    const acked = tally(acknowledged);
    const maybe = tally(unanswered);
    for (const [k, n] of acked) assert.ok((logged.get(k) ?? 0) >= n, `${k}: acknowledged ${n} times, logged ${logged.get(k) ?? 0}`);
    for (const [k, n] of logged)
      assert.ok(n <= (acked.get(k) ?? 0) + (maybe.get(k) ?? 0), `${k}: logged ${n} times, acknowledged ${acked.get(k) ?? 0}, unanswered ${maybe.get(k) ?? 0}`);
    const replayed = new Map(secondaries.map((s) => [s, s]));
    for (const e of events) {
      if (e.type === 'identity.linked') {
        assert.equal(replayed.get(e.secondary_id), e.secondary_id, `the trail links ${e.secondary_id} while it is not free`);
        replayed.set(e.secondary_id, e.primary_id);
      } else {
        assert.equal(replayed.get(e.secondary_id), e.primary_id, `the trail unlinks ${e.secondary_id} from a user that does not own it`);
        replayed.set(e.secondary_id, e.secondary_id);
      }
    }
    for (const secondary of secondaries) assert.equal(owners.get(secondary), replayed.get(secondary), `${secondary}: the audit trail replayed`);
    console.log(
      `# storm: ${calls.length} calls, ${acknowledged.length} acknowledged, ${answered.length - acknowledged.length} refused, ${unanswered.length} unanswered (killed); ${events.length} link/unlink events`,
    );
  });
});
