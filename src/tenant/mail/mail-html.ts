/** Escapes text for the HTML part of a mail (mail bodies are built as strings, not views). */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
