// A proxy binary a block of tests needs. Where it is not installed the block fails, never skips:
// a recipe that was not run is not a recipe that passed (`npm run setup` installs them).

/** In a `before` hook: the `binary` found for the Debian package `pkg`, else a failure naming it. */
export function requireProxy(pkg: 'nginx' | 'caddy', binary: string | undefined): string {
  if (binary !== undefined) return binary;
  throw new Error(`${pkg} is required (npm run setup, or apt-get install ${pkg})`);
}
