import nodemailer, { type Transporter } from 'nodemailer';
import type { Kysely } from 'kysely';
import type { Schema } from '../../platform/database.ts';

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

/** Development transport: messages are stored and readable at /dev/mail, never sent. */
export class OutboxMailer implements Mailer {
  readonly transport = 'outbox' as const;
  constructor(private readonly db: Kysely<Schema>) {}

  async send(message: MailMessage): Promise<void> {
    await this.db.insertInto('mail_outbox').values({ ...message, created_at: new Date().toISOString() }).execute();
  }

  async list(limit = 100): Promise<StoredMail[]> {
    return this.db.selectFrom('mail_outbox').select(['to', 'subject', 'text', 'html', 'created_at'])
      .orderBy('id', 'desc').limit(limit).execute();
  }
}

export class SmtpMailer implements Mailer {
  readonly transport = 'smtp' as const;
  readonly #transporter: Transporter;
  constructor(smtpUrl: string, private readonly from: string) {
    this.#transporter = nodemailer.createTransport(smtpUrl);
  }

  async send(message: MailMessage): Promise<void> {
    await this.#transporter.sendMail({ from: this.from, ...message });
  }
}
