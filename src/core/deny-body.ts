// The short body sent with a 403, in the form the client asked for.

import type { DenyBody } from './decision';
import type { HeaderList } from './header-list';

export function renderDenyBody(headers: HeaderList, requestId: string | undefined): DenyBody {
  const accept = headers.get('accept') ?? '';
  const reference = requestId ? ` Reference: ${requestId}.` : '';
  if (accept.includes('text/html')) {
    return {
      contentType: 'text/html; charset=utf-8',
      text:
        '<!doctype html><html><head><meta charset="utf-8"><title>Access denied</title></head>' +
        `<body><h1>Access denied</h1><p>Your request was blocked.${escapeHtml(reference)}</p>` +
        '</body></html>\n',
    };
  }
  if (accept.includes('json')) {
    return {
      contentType: 'application/json',
      text: `${JSON.stringify({ error: 'access_denied', requestId })}\n`,
    };
  }
  return { contentType: 'text/plain; charset=utf-8', text: `Access denied.${reference}\n` };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);
}
