// What check-config prints instead of a URL's secret-looking parts: the user info, query values
// (the names are kept) and the fragment. Works on the text as written (no URL parser that would
// normalise it or throw), so any string can be passed: one that holds no URL comes back as it is.

import { REDACTED } from './load-config';

/** `scheme://` followed by user info (up to the first `@` before the host ends). */
const USER_INFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i;

export function redactUrl(text: string): string {
  if (!/^([a-z][a-z0-9+.-]*:\/\/|\/)/i.test(text)) return text;
  const hash = text.indexOf('#');
  const withoutFragment = hash < 0 ? text : text.slice(0, hash);
  const question = withoutFragment.indexOf('?');
  const base = (question < 0 ? withoutFragment : withoutFragment.slice(0, question)).replace(
    USER_INFO,
    `$1${REDACTED}@`,
  );
  const query =
    question < 0
      ? ''
      : `?${withoutFragment
          .slice(question + 1)
          .split('&')
          .map(pair => {
            const eq = pair.indexOf('=');
            return eq < 0 || eq === pair.length - 1 ? pair : `${pair.slice(0, eq)}=${REDACTED}`;
          })
          .join('&')}`;
  return `${base}${query}${hash < 0 ? '' : `#${REDACTED}`}`;
}
