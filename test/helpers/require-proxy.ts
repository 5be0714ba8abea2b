// A proxy binary a block of tests needs: where it is not installed the block is skipped locally
// and fails in CI, so CI never passes without running the real proxy.

/**
 * In a `before` hook: the `binary` found for the Debian package `pkg`, or else skips the block
 * (`context.skip()`), or fails it when `CI` is set.
 */
export function requireProxy(
  context: Mocha.Context,
  pkg: 'nginx' | 'caddy',
  binary: string | undefined,
): string {
  if (binary !== undefined) return binary;
  const missing = `${pkg} is required (apt-get install ${pkg})`;
  if (process.env['CI']) throw new Error(missing);
  context.skip();
}
