#!/usr/bin/env bash
# `npm run setup`: installs the system packages the tests need, on Debian/Ubuntu (apt-get):
#   nginx      the NGINX auth_request tests run the real nginx binary
#   caddy      the Caddy forward_auth tests run the Caddy recipe of docs/caddy.md in the real caddy
#   chromium   the browser tests pass the served challenge in headless chromium (puppeteer-core)
#   prometheus promtool, for the alert rule tests
#   openssl    TLS test certificates
#   redis-server  the verdict memory's sharing tests run a real Redis (plain, AUTH, TLS)
# Idempotent: installs only what is missing. Uses sudo when not run as root. .ci/run runs this too.
set -euo pipefail

die() {
  echo "npm run setup: $*" >&2
  exit 1
}

missing=()
has_nginx() {
  local p
  for p in /usr/sbin/nginx /usr/local/sbin/nginx /usr/bin/nginx; do [ -x "$p" ] && return 0; done
  return 1
}
has_nginx || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || [ -x /usr/bin/promtool ] || missing+=(prometheus)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
has_redis() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; }
has_redis || missing+=(redis-server)

if [ ${#missing[@]} -eq 0 ]; then
  echo "npm run setup: nothing to install (nginx, caddy, chromium, promtool, openssl and redis-server are present)"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
  die "cannot install ${missing[*]}: no apt-get here (Debian/Ubuntu only); install them with your package manager"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  die "cannot install ${missing[*]}: not root and no sudo; run as root: apt-get install ${missing[*]}"
fi

echo "npm run setup: installing ${missing[*]} with apt-get"
"${as_root[@]}" apt-get update -qq ||
  die "apt-get update failed (network or apt sources?); then run: apt-get install ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
  die "apt-get install ${missing[*]} failed"

has_nginx || die "nginx is still missing after apt-get install"
command -v caddy >/dev/null 2>&1 || die "caddy is still missing after apt-get install"
command -v chromium >/dev/null 2>&1 || die "chromium is still missing after apt-get install"
command -v promtool >/dev/null 2>&1 || die "promtool is still missing after installing prometheus"
command -v openssl >/dev/null 2>&1 || die "openssl is still missing after apt-get install"
has_redis || die "redis-server is still missing after apt-get install"
echo "npm run setup: installed ${missing[*]}"
