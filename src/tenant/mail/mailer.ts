import type { CompiledQuery } from 'kysely';
import nodemailer, { type Transporter } from 'nodemailer';
import { prepareQuery } from '../../platform/prepared-query.ts';
import type { Database } from '../tenant-database.ts';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface StoredMail extends MailMessage {
  created_at: string;
}

/** Where the tenant's mail goes: SMTP in production, the database outbox in development. */
export interface Mailer {
  readonly transport: 'smtp' | 'outbox';
  send(message: MailMessage): Promise<void>;
}

const MAIL_COLUMNS = ['to', 'subject', 'text', 'html', 'created_at'] as const satisfies readonly (keyof StoredMail)[];
/** Batches up to this size get a prepared insert each: a link or an unlink mails a few addresses, a group commit's mails go in one batch. */
const PREPARED_BATCH = 16;

interface QueuedMail {
  row: StoredMail;
  stored: () => void;
  failed: (err: unknown) => void;
}

/**
 * Development transport: messages are stored and readable at /dev/mail, never sent. Messages
 * sent in the same turn of the event loop are stored in one statement, written with the
 * database's `write`: on SQLite it joins the group commit of the writes under way (a link, an
 * unlink) instead of a commit of its own, which cost more than the insert.
 */
export class OutboxMailer implements Mailer {
  readonly transport = 'outbox' as const;
  #queue: QueuedMail[] = [];
  /** The insert of a batch of each size up to PREPARED_BATCH, compiled once: Kysely's build and compile of it cost more than SQLite storing it. */
  readonly #inserts = new Map<number, { names: string[]; insert: (values: Record<string, unknown>) => CompiledQuery }>();
  constructor(private readonly database: Pick<Database, 'db' | 'write'>) {}

  /** The statement storing these rows, in order: Kysely's own for the batch, compiled once per size (larger batches each time). */
  #insertOf(rows: StoredMail[]): CompiledQuery {
    if (rows.length > PREPARED_BATCH) return this.database.db.insertInto('mail_outbox').values(rows).compile();
    let prepared = this.#inserts.get(rows.length);
    if (prepared === undefined) {
      const names = rows.flatMap((_, i) => MAIL_COLUMNS.map((column) => `${column}${i}`));
      const insert = prepareQuery(names, (p) =>
        this.database.db
          .insertInto('mail_outbox')
          .values(rows.map((_, i) => Object.fromEntries(MAIL_COLUMNS.map((column) => [column, p[`${column}${i}`]])) as unknown as StoredMail)),
      );
      prepared = { names, insert };
      this.#inserts.set(rows.length, prepared);
    }
    const values: Record<string, unknown> = {};
    let n = 0;
    for (const row of rows) for (const column of MAIL_COLUMNS) values[prepared.names[n++]!] = row[column];
    return prepared.insert(values);
  }

  send(message: MailMessage): Promise<void> {
    return new Promise((stored, failed) => {
      this.#queue.push({ row: { ...message, created_at: new Date().toISOString() }, stored, failed });
      if (this.#queue.length === 1)
        setImmediate(() => {
          void this.#store();
        });
    });
  }

  async #store(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    try {
      await this.database.write(this.#insertOf(batch.map((mail) => mail.row)));
      for (const mail of batch) mail.stored();
    } catch (err) {
      for (const mail of batch) mail.failed(err);
    }
  }

  async list(limit = 100): Promise<StoredMail[]> {
    return this.database.db.selectFrom('mail_outbox').select(['to', 'subject', 'text', 'html', 'created_at']).orderBy('id', 'desc').limit(limit).execute();
  }
}

export class SmtpMailer implements Mailer {
  readonly transport = 'smtp' as const;
  readonly #transporter: Transporter;
  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    this.#transporter = nodemailer.createTransport(smtpUrl);
  }

  async send(message: MailMessage): Promise<void> {
    await this.#transporter.sendMail({ from: this.from, ...message });
  }
}
