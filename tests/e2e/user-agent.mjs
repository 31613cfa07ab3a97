// A small headless user agent: what a browser does in an OAuth sign-in, and nothing more.
//
// It keeps cookies (host-only, path-matched, expiring, like a browser on loopback http), follows
// redirects by hand (303/301/302 turn a POST into a GET, 307/308 keep it), and on an HTML page
// submits the page's form: hidden inputs, pre-filled values and the value of the chosen submit
// button, urlencoded, to the form's action. It stops once it has requested a URL under `stopAt`
// (the client's loopback redirect URI), which the loopback listener below answers.
//
// No JavaScript, no sub-resources: a page that needs either to proceed is a failure, on purpose
// (the consent page must work without JavaScript).

import * as http from 'node:http';

const DEFAULT_MAX_STEPS = 25;
const DEFAULT_TIMEOUT_MS = 15_000;
// Which submit button to press when a form has several: the one that moves the flow forward.
const PREFERRED_BUTTON = /^(approve|allow|accept|consent|continue|sign[ -]?in|log[ -]?in|yes|submit)\b/i;
const REFUSING_BUTTON = /^(deny|reject|cancel|decline|no)\b/i;

export class UserAgentError extends Error {
  constructor(message, trail) {
    super(`${message}\n  trail:\n${trail.map((t) => `    ${t}`).join('\n')}`);
    this.name = 'UserAgentError';
    this.trail = trail;
  }
}

/** A browser-like cookie jar for http on loopback hosts. */
export class CookieJar {
  #cookies = [];

  /** Stores the `Set-Cookie` headers of `response`, received for `url`. */
  store(url, response) {
    const lines = typeof response.headers.getSetCookie === 'function' ? response.headers.getSetCookie() : [];
    for (const line of lines) this.#storeOne(new URL(url), line);
  }

  #storeOne(url, line) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = defaultPath(url.pathname);
    let expires;
    for (const attr of attrs) {
      const [k, ...rest] = attr.split('=');
      const key = k.trim().toLowerCase();
      const v = rest.join('=').trim();
      if (key === 'path' && v.startsWith('/')) path = v;
      else if (key === 'max-age' && /^-?\d+$/.test(v)) expires = Date.now() + Number(v) * 1000;
      else if (key === 'expires' && expires === undefined) {
        const t = Date.parse(v);
        if (!Number.isNaN(t)) expires = t;
      }
    }
    this.#cookies = this.#cookies.filter((c) => !(c.host === url.hostname && c.name === name && c.path === path));
    if (expires !== undefined && expires <= Date.now()) return;
    this.#cookies.push({ host: url.hostname, name, value, path, expires });
  }

  /** The `Cookie` header for a request to `url`, or undefined. */
  header(url) {
    const u = new URL(url);
    const now = Date.now();
    this.#cookies = this.#cookies.filter((c) => c.expires === undefined || c.expires > now);
    const matching = this.#cookies
      .filter((c) => c.host === u.hostname && pathMatches(u.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** Names of the cookies held for `host` (for assertions in tests). */
  names(host) {
    return this.#cookies.filter((c) => c.host === host).map((c) => c.name);
  }
}

function defaultPath(pathname) {
  const i = pathname.lastIndexOf('/');
  return i <= 0 ? '/' : pathname.slice(0, i);
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, body) => {
    if (body[0] === '#') {
      const code = body[1].toLowerCase() === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[body.toLowerCase()] ?? whole;
  });
}

function parseAttributes(tag) {
  const attrs = {};
  const re = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  // Skip the tag name itself.
  const inner = tag.replace(/^<\s*[a-z0-9]+/i, '').replace(/\/?>$/, '');
  for (const m of inner.matchAll(re)) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

/**
 * The forms of an HTML page: `{ action, method, fields: [[name, value]], buttons: [{ name, value, label }] }`.
 * Handles what plain server-rendered forms use: input (hidden, text, email, password, checkbox,
 * radio, submit), button, textarea, and select with a selected option.
 */
export function parseForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form\s*>/gi)) {
    const open = m[0].slice(0, m[0].indexOf('>') + 1);
    const attrs = parseAttributes(open);
    const body = m[1];
    const fields = [];
    const buttons = [];
    for (const t of body.matchAll(/<(input|button|textarea|select)\b[^>]*>(?:([\s\S]*?)<\/\1\s*>)?/gi)) {
      const kind = t[1].toLowerCase();
      const a = parseAttributes(t[0].slice(0, t[0].indexOf('>') + 1));
      if ('disabled' in a) continue;
      if (kind === 'input') {
        const type = (a.type ?? 'text').toLowerCase();
        if (type === 'submit' || type === 'image') {
          buttons.push({ name: a.name, value: a.value ?? '', label: a.value ?? '' });
        } else if (type === 'checkbox' || type === 'radio') {
          if ('checked' in a && a.name) fields.push([a.name, a.value ?? 'on']);
        } else if (type !== 'button' && type !== 'reset' && type !== 'file' && a.name) {
          fields.push([a.name, a.value ?? '']);
        }
      } else if (kind === 'button') {
        const type = (a.type ?? 'submit').toLowerCase();
        if (type === 'submit') {
          const label = decodeEntities((t[2] ?? '').replace(/<[^>]*>/g, '')).trim();
          buttons.push({ name: a.name, value: a.value ?? '', label });
        }
      } else if (kind === 'textarea' && a.name) {
        fields.push([a.name, decodeEntities(t[2] ?? '')]);
      } else if (kind === 'select' && a.name) {
        const options = [...(t[2] ?? '').matchAll(/<option\b[^>]*>([^<]*)/gi)].map((o) => {
          const oa = parseAttributes(o[0].slice(0, o[0].indexOf('>') + 1));
          return { value: oa.value ?? decodeEntities(o[1]).trim(), selected: 'selected' in oa };
        });
        const chosen = options.find((o) => o.selected) ?? options[0];
        if (chosen) fields.push([a.name, chosen.value]);
      }
    }
    forms.push({ action: attrs.action, method: (attrs.method ?? 'get').toLowerCase(), fields, buttons });
  }
  return forms;
}

function chooseButton(buttons, prefer) {
  if (buttons.length === 0) return undefined;
  const label = (b) => `${b.label || b.value || b.name || ''}`.trim();
  if (prefer) {
    const wanted = buttons.find((b) => prefer.test(label(b)) || prefer.test(b.value ?? ''));
    if (wanted) return wanted;
  }
  return (
    buttons.find((b) => PREFERRED_BUTTON.test(label(b)) || PREFERRED_BUTTON.test(b.value ?? ''))
    ?? buttons.find((b) => !REFUSING_BUTTON.test(label(b)))
    ?? buttons[0]
  );
}

/**
 * Walks from `startUrl` through redirects and forms until a URL under `stopAt` has been requested.
 *
 * Options: `jar` (a CookieJar, kept across calls like a browser profile), `maxSteps`, `timeoutMs`,
 * `button` (a RegExp naming the submit button to press where a form has one, e.g. /deny/i;
 * forms without a match get the default choice, so assert on where the flow ends),
 * `onStep(step)` (called with `{ method, url, status }` per request), `fetchFn`, and
 * `requestStop` (default true; false returns the `stopAt` URL without requesting it, for a
 * client that reads the redirect URL itself).
 * Returns `{ url, status, body, trail, jar }` for the request to `stopAt` (`status` and `body`
 * undefined when it was not requested).
 */
export async function browse(startUrl, { stopAt, jar = new CookieJar(), maxSteps = DEFAULT_MAX_STEPS, timeoutMs = DEFAULT_TIMEOUT_MS, button, onStep, fetchFn = fetch, requestStop = true } = {}) {
  if (!stopAt) throw new TypeError('browse: `stopAt` (the URL prefix to stop at) is required');
  const deadline = Date.now() + timeoutMs;
  const trail = [];
  let request = { method: 'GET', url: new URL(startUrl).href, body: undefined };

  for (let step = 0; step < maxSteps; step += 1) {
    if (!requestStop && request.url.startsWith(stopAt)) {
      return { url: request.url, status: undefined, body: undefined, trail, jar };
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new UserAgentError(`timed out after ${timeoutMs} ms`, trail);

    const headers = { 'user-agent': 'actix-mcp-oauth-e2e-user-agent/1', accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
    const cookie = jar.header(request.url);
    if (cookie) headers.cookie = cookie;
    if (request.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    if (request.referer) headers.origin = new URL(request.referer).origin;

    let response;
    try {
      response = await fetchFn(request.url, {
        method: request.method,
        headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(remaining),
      });
    } catch (err) {
      throw new UserAgentError(`${request.method} ${request.url} failed: ${err.message}`, trail);
    }
    jar.store(request.url, response);
    trail.push(`${request.method} ${redact(request.url)} -> ${response.status}`);
    onStep?.({ method: request.method, url: request.url, status: response.status });

    const body = await response.text();
    if (request.url.startsWith(stopAt)) {
      return { url: request.url, status: response.status, body, trail, jar };
    }

    if ([301, 302, 303, 307, 308].includes(response.status)) {
      const location = response.headers.get('location');
      if (!location) throw new UserAgentError(`redirect without Location from ${request.url}`, trail);
      const next = new URL(location, request.url).href;
      const keepMethod = response.status === 307 || response.status === 308;
      request = keepMethod
        ? { ...request, url: next }
        : { method: 'GET', url: next, body: undefined };
      continue;
    }

    if (response.status !== 200) {
      throw new UserAgentError(`unexpected ${response.status} at ${redact(request.url)}: ${snippet(body)}`, trail);
    }
    const forms = parseForms(body);
    if (forms.length === 0) {
      throw new UserAgentError(`stuck: a page without a form at ${redact(request.url)}: ${snippet(body)}`, trail);
    }
    const form = forms.find((f) => f.buttons.length > 0) ?? forms[0];
    const pressed = chooseButton(form.buttons, button);
    const data = new URLSearchParams(form.fields);
    if (pressed?.name) data.append(pressed.name, pressed.value ?? '');
    const action = new URL(form.action || request.url, request.url);
    if (form.method === 'post') {
      request = { method: 'POST', url: action.href, body: data.toString(), referer: request.url };
    } else {
      action.search = data.toString();
      request = { method: 'GET', url: action.href, body: undefined };
    }
  }
  throw new UserAgentError(`gave up after ${maxSteps} steps`, trail);
}

// Codes and states in a trail are one-time values, but keep them out of logs all the same.
function redact(url) {
  try {
    const u = new URL(url);
    for (const key of ['code', 'state', 'code_challenge']) {
      if (u.searchParams.has(key)) u.searchParams.set(key, '…');
    }
    return u.href;
  } catch {
    return url;
  }
}

function snippet(body) {
  const text = body.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/**
 * A loopback listener for the client's redirect URI (RFC 8252 §7.3).
 *
 * `const cb = await startLoopbackListener()`; `cb.redirectUri` is `http://127.0.0.1:PORT/callback`;
 * `await cb.waitForCallback(ms)` resolves with `{ code, state, error, errorDescription, params }`
 * for the first request to that path; `await cb.close()`.
 */
export async function startLoopbackListener({ path = '/callback' } = {}) {
  let settle;
  const received = new Promise((resolve) => {
    settle = resolve;
  });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const params = Object.fromEntries(url.searchParams);
    settle({
      code: params.code,
      state: params.state,
      error: params.error,
      errorDescription: params.error_description,
      params,
    });
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end('<!DOCTYPE html><title>Signed in</title><p>Signed in. You can close this window.</p>');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const redirectUri = `http://127.0.0.1:${server.address().port}${path}`;
  return {
    redirectUri,
    waitForCallback(timeoutMs = DEFAULT_TIMEOUT_MS) {
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no redirect reached ${redirectUri} within ${timeoutMs} ms`)), timeoutMs);
      });
      return Promise.race([received, timeout]).finally(() => clearTimeout(timer));
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
