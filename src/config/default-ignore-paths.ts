// The default ignore list (`ignore_paths`): requests no bot is worth an RTI call for, as in
// CHEQ's edge integrations (rti-api.md §5.1). Each entry is a path pattern (path-pattern.ts)
// matched on the canonical path, so an ambiguous path (`/admin;.css`, `/x.css/..%2Fadmin`) is
// never ignored and dot segments are resolved first (`/.well-known/../admin` is /admin).
//
// Unlike CHEQ's list, a static asset is ignored only under a conventional asset directory: an
// entry matching `*.css` below any path lets a client skip the check of a protected page by
// appending `/x.css` on backends that route by prefix or ignore trailing path parts
// (`/checkout/x.css` served as /checkout), and `.css` after a name on those that strip a format
// suffix (Spring MVC's suffix patterns, `/checkout.css` as /checkout).

/** Directories that hold only static files in common layouts. */
const ASSET_DIRECTORIES = 'static|assets|css|js|img|images|fonts|media|dist|build';
/** Extensions of static assets: scripts, styles, images, fonts, media. */
const ASSET_EXTENSIONS =
  'css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|bmp|woff2?|ttf|otf|eot|mp4|webm|mp3';

export const DEFAULT_IGNORE_PATHS: readonly string[] = [
  // A file with an asset extension in an asset directory, no dot in a directory name below it:
  // a script named earlier in the path (`/static/x.php/y.css`, PATH_INFO) is never ignored.
  `/(?:${ASSET_DIRECTORIES})/(?:[^/.]+/)*[^/]+\\.(?:${ASSET_EXTENSIONS})`,
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
