// The default ignore list (`ignore_paths`): requests no bot is worth an RTI call for, as in
// CHEQ's edge integrations (rti-api.md §5.1). Each entry is a path pattern (path-pattern.ts)
// matched on the canonical path, so an ambiguous path (`/admin;.css`, `/x.css/..%2Fadmin`) is
// never ignored and dot segments are resolved first (`/.well-known/../admin` is /admin).

/** Extensions of static assets: scripts, styles, images, fonts, media. */
const ASSET_EXTENSIONS =
  'css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|bmp|woff2?|ttf|otf|eot|mp4|webm|mp3';

export const DEFAULT_IGNORE_PATHS: readonly string[] = [
  // A file with an asset extension whose directories hold no dot: a backend that runs a script
  // named earlier in the path (`/index.php/x.css`, PATH_INFO) is not given an unchecked page.
  `(?:/[^/.]+)*/[^/]+\\.(?:${ASSET_EXTENSIONS})`,
  '/robots.txt',
  '/sitemap*.xml',
  '/favicon.ico',
  '^/\\.well-known/',
  '/healthz',
  '/health',
  '/ready',
  '/readyz',
  '/livez',
  '^/_next/static/',
];
