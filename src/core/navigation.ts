// Tells a top-level page navigation (which can follow a redirect to a page) from requests that
// cannot: XHR/fetch, CORS preflights, WebSocket upgrades, gRPC, non-HTML clients.

import type { HeaderList } from './header-list';

export function isCorsPreflight(method: string, headers: HeaderList): boolean {
  return method === 'OPTIONS' && headers.has('access-control-request-method');
}

export function isPageNavigation(method: string, headers: HeaderList): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (headers.has('upgrade') || headers.has('sec-websocket-key')) return false;
  if (headers.get('x-requested-with')?.toLowerCase() === 'xmlhttprequest') return false;
  if (headers.get('content-type')?.startsWith('application/grpc')) return false;
  const fetchMode = headers.get('sec-fetch-mode');
  if (fetchMode !== undefined) return fetchMode === 'navigate';
  return headers.get('accept')?.includes('text/html') ?? false;
}
