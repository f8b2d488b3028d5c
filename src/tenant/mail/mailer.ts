import nodemailer, { type Transporter } from 'nodemailer';
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
  constructor(private readonly database: Pick<Database, 'db' | 'write'>) {}

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
      await this.database.write(
        this.database.db
          .insertInto('mail_outbox')
          .values(batch.map((mail) => mail.row))
          .compile(),
      );
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
