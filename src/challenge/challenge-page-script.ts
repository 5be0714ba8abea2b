// The challenge page's inline script, constant so its CSP hash is computed once. It reads
// everything request-specific from data-* attributes of #cq (HTML-escaped by the renderer), so
// no request value is ever spliced into script text. Plain ES2017 for every current browser.
//
// Proof of work (data-mode="pow"): finds s, a base-36 counter, such that
// SHA-256(token "." s) has data-difficulty leading zero bits. SHA-256 is written out here:
// crypto.subtle exists only in secure contexts, and a site may be served over plain http. The
// token's whole 64-byte blocks are hashed once; each try hashes only the tail, in preallocated
// arrays. Work runs in slices so the page stays responsive.
//
// Captcha (data-mode="captcha"): waits until the provider's widget fills the field named
// data-field, or (data-execute, reCAPTCHA v3) asks grecaptcha.execute for a token.
//
// Both then navigate to data-verify?t=<token>&s=<solution> with location.replace, so the page
// stays out of the history.

const SOURCE = `(function () {
  'use strict';
  var el = document.getElementById('cq');
  var attr = function (name) { return el.getAttribute('data-' + name) || ''; };
  var token = attr('token');
  var sent = false;
  function go(solution) {
    if (sent) return;
    sent = true;
    location.replace(attr('verify') + '?t=' + encodeURIComponent(token) +
      '&s=' + encodeURIComponent(solution));
  }
  if (attr('mode') === 'pow') {
    solve(token + '.', Number(attr('difficulty')), go);
  } else {
    waitForCaptcha(attr('field'), attr('execute') === '1' ? attr('site-key') : '', go);
  }

  function waitForCaptcha(field, v3SiteKey, done) {
    var asked = false;
    var timer = setInterval(function () {
      var input = document.getElementsByName(field)[0];
      if (input && input.value) {
        clearInterval(timer);
        done(input.value);
      }
      var g = window.grecaptcha;
      if (v3SiteKey && !asked && g && g.execute) {
        asked = true;
        g.ready(function () {
          g.execute(v3SiteKey, { action: 'challenge' }).then(function (response) {
            clearInterval(timer);
            done(response);
          });
        });
      }
    }, 200);
  }

  function solve(prefix, bits, done) {
    var K = [];
    var H = [];
    for (var p = 2; K.length < 64; p++) {
      if (isPrime(p)) {
        if (H.length < 8) H.push(fraction(Math.sqrt(p)));
        K.push(fraction(Math.cbrt(p)));
      }
    }
    var W = new Int32Array(64);
    var mid = new Int32Array(H);
    var whole = prefix.length - (prefix.length % 64);
    for (var at = 0; at < whole; at += 64) compress(mid, put(new Int32Array(16), prefix, at, 64, 0), 0);
    var tail = prefix.length - whole;
    // Tail blocks: the prefix's last bytes, then the counter, 0x80 and the bit length.
    var base = put(new Int32Array(32), prefix, whole, tail, 0);
    var block = new Int32Array(32);
    var h = new Int32Array(8);
    var i = 0;
    (function slice() {
      for (var end = i + 20000; i < end; i++) {
        var s = i.toString(36);
        var length = tail + s.length;
        var words = length + 9 > 64 ? 32 : 16;
        block.set(base);
        put(block, s, 0, s.length, tail);
        block[length >> 2] |= 0x80 << (24 - (length % 4) * 8);
        block[words - 1] = (prefix.length + s.length) * 8;
        h.set(mid);
        compress(h, block, 0);
        if (words === 32) compress(h, block, 16);
        if (Math.clz32(h[0]) >= bits) return done(s);
      }
      setTimeout(slice, 0);
    })();

    function compress(h, m, offset) {
      var j, x, y, t1, t2;
      for (j = 0; j < 16; j++) W[j] = m[offset + j];
      for (j = 16; j < 64; j++) {
        x = W[j - 15];
        y = W[j - 2];
        W[j] = (W[j - 16] + (ror(x, 7) ^ ror(x, 18) ^ (x >>> 3)) + W[j - 7] +
          (ror(y, 17) ^ ror(y, 19) ^ (y >>> 10))) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (j = 0; j < 64; j++) {
        t1 = (k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[j] + W[j]) | 0;
        t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
    }
  }

  // Writes count ASCII characters of text from index from, big-endian, at byte offset into w
  // (tokens and counters are ASCII); returns w.
  function put(w, text, from, count, offset) {
    for (var j = 0; j < count; j++) {
      var at = offset + j;
      w[at >> 2] |= text.charCodeAt(from + j) << (24 - (at % 4) * 8);
    }
    return w;
  }
  function ror(x, n) { return (x >>> n) | (x << (32 - n)); }
  function fraction(x) { return ((x - Math.floor(x)) * 4294967296) | 0; }
  function isPrime(n) {
    for (var d = 2; d * d <= n; d++) if (n % d === 0) return false;
    return true;
  }
})();
`;

/** SOURCE without indentation and comment lines: a smaller page (no line holds a string with //). */
export const CHALLENGE_PAGE_SCRIPT = SOURCE.split('\n')
  .map(line => line.trim())
  .filter(line => line !== '' && !line.startsWith('//'))
  .join('\n');
