import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CompiledQuery, KyselyPlugin } from 'kysely';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { OutboxMailer } from '../../src/tenant/mail/mailer.ts';
import { testDatabases } from '../helpers/databases.ts';

const mail = (n: number) => ({ to: `ada${n}@example.com`, subject: `Message ${n}`, text: `Text ${n}`, html: `<p>Text ${n}</p>` });

for (const variant of testDatabases()) {
  describe(`the development outbox [${variant.label}]`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ database, cleanup } = await variant.open());
    });
    after(async () => {
      await cleanup();
    });

    it('stores the messages sent in one turn of the event loop with one statement, in order', async () => {
      let statements = 0;
      const counting: KyselyPlugin = {
        transformQuery: (args) => {
          statements += 1;
          return args.node;
        },
        transformResult: async (args) => args.result,
      };
      const outbox = new OutboxMailer({ db: database.db.withPlugin(counting), write: database.write });
      await Promise.all([outbox.send(mail(1)), outbox.send(mail(2)), outbox.send(mail(3))]);
      assert.equal(statements, 1);
      await outbox.send(mail(4));
      assert.equal(statements, 2);
      const stored = await outbox.list(4);
      assert.deepEqual(
        stored.map((m) => m.subject),
        ['Message 4', 'Message 3', 'Message 2', 'Message 1'],
      );
      assert.deepEqual({ ...stored[0], created_at: undefined }, { ...mail(4), created_at: undefined });
    });

    it('stores the messages in the writes’ shared transaction (SQLite: the group commit), not in a commit of their own', async () => {
      const written: unknown[] = [];
      const outbox = new OutboxMailer({
        db: database.db,
        write: (query) => {
          written.push(query.sql);
          return database.write(query);
        },
      });
      await Promise.all([outbox.send(mail(8)), outbox.send(mail(9))]);
      assert.equal(written.length, 1);
      assert.deepEqual(
        (await outbox.list(2)).map((m) => m.subject),
        ['Message 9', 'Message 8'],
      );
    });

    it("stores each batch with Kysely's own insert of its rows, whatever its size, also when a size comes again", async () => {
      const written: CompiledQuery[] = [];
      const outbox = new OutboxMailer({
        db: database.db,
        write: (query) => {
          written.push(query);
          return database.write(query);
        },
      });
      let n = 100;
      for (const size of [1, 3, 1, 16, 17, 3]) {
        const sent = Array.from({ length: size }, () => mail(n++));
        await Promise.all(sent.map((message) => outbox.send(message)));
        const query = written.at(-1)!;
        const stored = (await outbox.list(size)).reverse();
        assert.deepEqual(
          stored.map(({ created_at: _, ...message }) => message),
          sent,
        );
        const expected = database.db.insertInto('mail_outbox').values(stored).compile();
        assert.equal(query.sql, expected.sql, `a batch of ${size}`);
        assert.deepEqual(query.parameters, expected.parameters, `a batch of ${size}`);
      }
      assert.equal(written.length, 6);
    });

    it('fails every message of a batch that could not be stored, and keeps working after it', async () => {
      const outbox = new OutboxMailer(database);
      const results = await Promise.allSettled([outbox.send(mail(5)), outbox.send({ ...mail(6), to: null as unknown as string })]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['rejected', 'rejected'],
      );
      await outbox.send(mail(7));
      assert.deepEqual(
        (await outbox.list(1)).map((m) => m.subject),
        ['Message 7'],
      );
    });
  });
}
