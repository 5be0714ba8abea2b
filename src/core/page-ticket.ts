// The X-Cheq-Page ticket: NGINX's auth_request drops the answer's body, so the 403 carries this
// instead, and the shipped @cheq_deny location has the page endpoint render the page from it
// without asking RTI again. Opaque to NGINX, at most 2 KB.

/** Longest ticket written or read. */
export const MAX_PAGE_TICKET_CHARS = 2048;
const MAX_ID_CHARS = 128;

export type PageTicket =
  | { readonly kind: 'not_found' }
  | { readonly kind: 'block'; readonly requestId?: string; readonly rayId?: string }
  /** The challenge token the page carries (verified again before the page is rendered). */
  | { readonly kind: 'challenge'; readonly token: string }
  /** A challenged non-navigation's 403: the URL to open in a browser (a same-origin path). */
  | {
      readonly kind: 'challenge_required';
      readonly returnUrl: string;
      readonly requestId?: string;
    };

export function writePageTicket(ticket: PageTicket): string {
  switch (ticket.kind) {
    case 'not_found':
      return 'n';
    case 'block': {
      const ids = {
        r: ticket.requestId?.slice(0, MAX_ID_CHARS),
        y: ticket.rayId?.slice(0, MAX_ID_CHARS),
      };
      return `b.${Buffer.from(JSON.stringify(ids)).toString('base64url')}`;
    }
    case 'challenge':
      return `c.${ticket.token}`;
    case 'challenge_required': {
      const r = ticket.requestId?.slice(0, MAX_ID_CHARS);
      const ticketOf = (u: string): string =>
        `j.${Buffer.from(JSON.stringify({ u, r })).toString('base64url')}`;
      const text = ticketOf(ticket.returnUrl);
      // As a challenge token does: a return URL too long for the bound becomes `/`.
      return text.length <= MAX_PAGE_TICKET_CHARS ? text : ticketOf('/');
    }
  }
}

/**
 * The ticket a text carries; undefined when it is none. Never throws: the page endpoint is
 * reachable by whoever reaches our listener, so the text may be anything. A block ticket is not
 * signed: forging one only shows its own (escaped) ids to whoever forged it.
 */
export function readPageTicket(text: string | undefined): PageTicket | undefined {
  if (!text || text.length > MAX_PAGE_TICKET_CHARS) return undefined;
  if (text === 'n') return { kind: 'not_found' };
  if (text.startsWith('c.') && text.length > 2) return { kind: 'challenge', token: text.slice(2) };
  const fields = text.startsWith('b.') || text.startsWith('j.') ? fieldsOf(text.slice(2)) : {};
  if (fields === undefined) return undefined;
  const { r, y, u } = fields;
  const requestId = typeof r === 'string' ? { requestId: r.slice(0, MAX_ID_CHARS) } : {};
  if (text.startsWith('b.')) {
    return {
      kind: 'block',
      ...requestId,
      ...(typeof y === 'string' ? { rayId: y.slice(0, MAX_ID_CHARS) } : {}),
    };
  }
  // The URL is re-checked by the caller (a same-origin path only): the text may be anything.
  if (text.startsWith('j.') && typeof u === 'string') {
    return { kind: 'challenge_required', returnUrl: u, ...requestId };
  }
  return undefined;
}

function fieldsOf(encoded: string): Record<string, unknown> | undefined {
  try {
    const fields: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return typeof fields === 'object' && fields !== null
      ? (fields as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
