import { pino, type Logger } from 'pino';

/** Paths pino blanks out wherever they appear: tokens, secrets, passwords, cookies. */
const REDACT = [
  'password',
  '*.password',
  'client_secret',
  '*.client_secret',
  'secret',
  '*.secret',
  'access_token',
  '*.access_token',
  'id_token',
  '*.id_token',
  'link_with',
  '*.link_with',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  'cookie',
];

export function createLogger(level: string, name = 'accord'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}

export type { Logger };
