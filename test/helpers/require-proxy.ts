// A proxy binary a block of tests needs: where it is not installed the block is skipped locally
// and fails in CI, so CI never passes without running the real proxy. A suite whose subject is
// the proxy itself fails everywhere instead.

/**
 * In a `before` hook: the `binary` found for the Debian package `pkg`, or else skips the block
 * (`context.skip()`), or fails it when `CI` is set or `missing` is `'fail'`.
 */
export function requireProxy(
  context: Mocha.Context,
  pkg: 'nginx' | 'caddy',
  binary: string | undefined,
  missing: 'skip-locally' | 'fail' = 'skip-locally',
): string {
  if (binary !== undefined) return binary;
  const message = `${pkg} is required (apt-get install ${pkg})`;
  if (process.env['CI'] || missing === 'fail') throw new Error(message);
  context.skip();
}
