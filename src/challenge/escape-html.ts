// Escapes text for HTML element content and quoted attribute values.

/** Replaces & < > " ' with numeric character references; safe in text and in "..." or '...'. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);
}
