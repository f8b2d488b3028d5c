import { randomBytes } from 'node:crypto';

/** A fresh address per call, so tests sharing a database, in one run or across runs, never collide. */
export function uniqueEmail(label = 'user', domain = 'example.com'): string {
  return `${label}-${randomBytes(6).toString('hex')}@${domain}`;
}
