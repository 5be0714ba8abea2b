// The checks warm-up sends: realistic page loads and API calls from browsers, good bots, bad
// bots and VPN users, so that every verdict the emulator gives (valid, block, challenge, good
// bot, unlisted) and every answer the configuration turns them into (allow, deny, redirect) run.

import type { CheckRequest } from '../generated/envoy/service/auth/v3/CheckRequest';

/** User-Agents and what the emulator (src/emulator/rti-emulator.ts) answers for them. */
const USER_AGENTS: readonly string[] = [
  // valid
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  // good bot
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  // block group: automation, scraper
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36',
  'price-bot/2.1 (+https://prices.example/bot)',
  // challenge group: VPN, data center
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15 vpn-client',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) datacenter-probe/1.0',
  // in no default group
  'Mozilla/5.0 (Linux; Android 14) clickfarm/3.0',
];

const PAGES: readonly string[] = [
  '/',
  '/products/7?color=red&size=42',
  '/category/shoes?page=2&sort=price',
  '/checkout',
];
const API_PATHS: readonly string[] = ['/api/cart', '/api/search?q=running%20shoes', '/api/login'];
const HOST = 'shop.example.com';

/** One request as a proxy describes it: method, path and the end user's headers. */
export interface WarmUpRequest {
  readonly method: string;
  readonly path: string;
  readonly clientIp: string;
  readonly requestId: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Request `i` of the warm-up. Warm-up sends even ones over gRPC, odd ones over HTTP: the user
 * agent changes every 6 requests, so each meets both transports, navigations and API calls.
 */
export function warmUpRequest(i: number): WarmUpRequest {
  const navigation = i % 3 !== 2;
  const method = navigation ? 'GET' : i % 2 === 0 ? 'POST' : 'GET';
  const path = navigation ? pick(PAGES, i) : pick(API_PATHS, i);
  const clientIp = `203.0.113.${(i % 250) + 1}`;
  const requestId = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  const headers: Record<string, string> = {
    'user-agent': pick(USER_AGENTS, Math.floor(i / 6)),
    accept: navigation
      ? 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'
      : 'application/json',
    'accept-language': 'en-GB,en-US;q=0.9,en;q=0.8',
    'accept-encoding': 'gzip, deflate, br, zstd',
    'sec-ch-ua': '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
    'sec-ch-ua-mobile': '?0',
    'sec-ch-ua-platform': '"Windows"',
    'sec-fetch-site': 'same-origin',
    'sec-fetch-mode': navigation ? 'navigate' : 'cors',
    'sec-fetch-dest': navigation ? 'document' : 'empty',
    referer: `https://${HOST}/category/shoes?page=2`,
    // Every other visitor is returning: with the RTI cookie, and more cookies than a first visit.
    cookie:
      Math.floor(i / 2) % 2 === 0
        ? `_ga=GA1.1.${1_000_000 + i}.1732000000; _cheq_rti=d2FybS11cC0${i}; cart=3f9a2c; consent=analytics%3Dtrue`
        : '_ga=GA1.1.1234567890.1732000000',
    'x-forwarded-for': `${clientIp}, 10.1.2.3`,
  };
  if (navigation) headers['upgrade-insecure-requests'] = '1';
  if (method === 'POST') headers['content-type'] = 'application/json';
  return { method, path, clientIp, requestId, headers };
}

/** The CheckRequest Envoy's ext_authz filter sends for it (HTTP/2 shape, pseudo-headers). */
export function toCheckRequest(request: WarmUpRequest): CheckRequest {
  return {
    attributes: {
      source: {
        address: { socket_address: { address: request.clientIp, port_value: 51234 } },
      },
      destination: { address: { socket_address: { address: '10.0.0.5', port_value: 8443 } } },
      request: {
        time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
        http: {
          id: request.requestId,
          method: request.method,
          headers: {
            ':authority': HOST,
            ':path': request.path,
            ':method': request.method,
            ':scheme': 'https',
            ...request.headers,
            'x-forwarded-proto': 'https',
            'x-envoy-external-address': request.clientIp,
            'x-request-id': request.requestId,
          },
          path: request.path,
          host: HOST,
          scheme: 'https',
          protocol: 'HTTP/2',
          size: '0',
        },
      },
      context_extensions: {},
    },
  };
}

/** The headers of NGINX's auth_request subrequest for it (the shipped deploy/ config). */
export function toAuthRequestHeaders(request: WarmUpRequest): Record<string, string> {
  return {
    ...request.headers,
    'x-original-uri': request.path,
    'x-original-method': request.method,
    'x-original-host': HOST,
    'x-forwarded-proto': 'https',
    'x-real-ip': request.clientIp,
    'x-request-id': request.requestId,
  };
}

function pick<T>(values: readonly T[], i: number): T {
  return values[i % values.length] as T;
}
