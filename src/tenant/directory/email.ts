/**
 * The form emails are matched on: Unicode NFC, trimmed, lowercased. Deliberately not NFKC:
 * compatibility folding would turn a fullwidth `＠` or other lookalikes into ASCII and
 * make an attacker's address match a victim's. Cyrillic `о` and dotless `ı` stay distinct.
 */
export function normalizeEmail(email: string): string {
  return email.normalize('NFC').trim().toLowerCase().normalize('NFC');
}

/** A deliberately plain shape check: one ASCII `@`, something on both sides, no spaces. */
export function isPlausibleEmail(email: string): boolean {
  return email.length <= 320 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/u.test(email);
}
