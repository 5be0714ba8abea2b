// What a blocked client reads, in the form it asked for: the block page for browsers (request id,
// ray id, and CHEQ's session id when its cookies are present; replaceable by a template file),
// JSON or text for others; and the stealth 404, the same bytes as any 404 of ours.

import type { ClientHeader, DenyBody } from './decision';
import type { HeaderList } from './header-list';
import { readCookies } from './header-list';
import { contentSecurityPolicy, pageHeaders } from './page-headers';

/** The incident ids a block page shows; each undefined when unknown. */
export interface IncidentIds {
  readonly requestId: string | undefined;
  readonly rayId: string | undefined;
  /** CHEQ's device id (`_cq_duid`): present when CHEQ's tag ran in this browser. */
  readonly sessionId: string | undefined;
}

/** A block page template as loaded from block_page_template: the HTML and its CSP. */
export interface BlockPageTemplate {
  readonly html: string;
  readonly csp: string;
}

export interface BlockAnswer {
  readonly body: DenyBody;
  readonly clientHeaders: readonly ClientHeader[];
}

/** The answer of the not_found strategy and of an unknown path on our own listener. */
export const NOT_FOUND_BODY: DenyBody = { contentType: 'text/plain', text: 'Not Found\n' };

/** The page endpoint's answer to a ticket it cannot read. */
export const FORBIDDEN_BODY: DenyBody = { contentType: 'text/plain', text: 'Forbidden\n' };

/** Longest id shown: a cookie is the client's choice. */
const MAX_ID_CHARS = 128;

const PLACEHOLDER = /\{\{(request_id|ray_id|session_id|status)\}\}/g;

const DEFAULT_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
  '<meta name="viewport" content="width=device-width,initial-scale=1">' +
  '<title>Access denied</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;' +
  'margin:10vh auto;padding:0 1em;color:#222}h1{font-size:1.5em}dl{color:#555;font-size:.9em}' +
  'dd{margin:0 0 .5em;font-family:monospace;word-break:break-all}</style></head><body>' +
  '<h1>Access denied</h1><p>Your request was blocked. If you think this is a mistake, contact ' +
  'the site and quote the ids below.</p><dl>{{ids}}</dl></body></html>\n';

const DEFAULT_CSP = contentSecurityPolicy(DEFAULT_PAGE);

/** Reads a template's text into a template: its CSP allows its own inline script and style. */
export function blockPageTemplate(html: string): BlockPageTemplate {
  return { html, csp: contentSecurityPolicy(html) };
}

/** The ids of a blocked request; the session id from the `_cq_duid` cookie. */
export function incidentIds(
  headers: HeaderList,
  requestId: string | undefined,
  rayId: string | undefined,
): IncidentIds {
  const [duid] = readCookies(headers.get('cookie'), ['_cq_duid']);
  return { requestId, rayId, sessionId: duid || undefined };
}

/** The 403 body for the client's Accept: the block page (HTML), JSON, or text. */
export function renderBlockAnswer(
  headers: HeaderList,
  ids: IncidentIds,
  template: BlockPageTemplate | undefined,
): BlockAnswer {
  const accept = headers.get('accept') ?? '';
  const { requestId } = ids;
  if (accept.includes('text/html')) {
    const text = template ? fillTemplate(template.html, ids) : defaultPage(ids);
    return {
      body: { contentType: 'text/html; charset=utf-8', text },
      clientHeaders: pageHeaders(template?.csp ?? DEFAULT_CSP),
    };
  }
  if (accept.includes('json')) {
    return {
      body: {
        contentType: 'application/json',
        text: `${JSON.stringify({ error: 'access_denied', requestId })}\n`,
      },
      clientHeaders: [],
    };
  }
  const reference = requestId ? ` Reference: ${requestId}.` : '';
  return {
    body: { contentType: 'text/plain; charset=utf-8', text: `Access denied.${reference}\n` },
    clientHeaders: [],
  };
}

function defaultPage(ids: IncidentIds): string {
  const rows = (
    [
      ['Request id', ids.requestId],
      ['Ray id', ids.rayId],
      ['Session id', ids.sessionId],
    ] as const
  )
    .filter(([, value]) => value)
    .map(([label, value]) => `<dt>${label}</dt><dd>${escapeHtml(shown(value))}</dd>`)
    .join('');
  return DEFAULT_PAGE.replace('{{ids}}', rows);
}

function fillTemplate(html: string, ids: IncidentIds): string {
  return html.replace(PLACEHOLDER, (_, name: string) => {
    const value =
      name === 'request_id'
        ? ids.requestId
        : name === 'ray_id'
          ? ids.rayId
          : name === 'session_id'
            ? ids.sessionId
            : '403';
    return escapeHtml(shown(value));
  });
}

function shown(value: string | undefined): string {
  return (value ?? '').slice(0, MAX_ID_CHARS);
}

/** Escapes text for an HTML element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, c => `&#${c.charCodeAt(0)};`);
}
