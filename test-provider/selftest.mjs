// End-to-end self test of server.mjs: `node selftest.mjs` (exit 0 = all good).
// Starts the provider with a client whose redirect_uri is
// http://127.0.0.1:<rp port>/cb, runs code+PKCE flows with a plain cookie jar,
// refresh rotation, prompt=create, login_hint=deny, RP-initiated logout and
// captures the back-channel logout POST on a local listener.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
let passed = 0;
let failed = 0;
function check(name, cond, extra) {
  if (cond) {
    passed += 1;
    console.log(`ok   - ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL - ${name}${extra !== undefined ? `: ${typeof extra === 'string' ? extra : JSON.stringify(extra)}` : ''}`);
  }
}

// ---- fake RP: captures back-channel logout POSTs --------------------------
const logoutPosts = [];
const rp = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/backchannel-logout') {
      logoutPosts.push({ headers: req.headers, body });
      res.writeHead(200, { 'cache-control': 'no-store' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('rp\n');
  });
});
rp.listen(Number(process.env.RP_PORT || 9999), '127.0.0.1');
await once(rp, 'listening');
const rpBase = `http://127.0.0.1:${rp.address().port}`;

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret-test-secret-test-secret';
const REDIRECT_URI = `${rpBase}/cb`;
const config = {
  port: 0,
  access_token_ttl: 60,
  id_token_ttl: 3600,
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    post_logout_redirect_uris: [`${rpBase}/`],
    backchannel_logout_uri: `${rpBase}/backchannel-logout`,
    token_endpoint_auth_method: 'client_secret_basic',
  }],
};

// ---- start the provider -----------------------------------------------------
const child = spawn(process.execPath, [join(here, 'server.mjs')], {
  env: { ...process.env, OIDC_TEST_CONFIG: JSON.stringify(config), PORT: '' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stdout = '';
let stderr = '';
child.stderr.on('data', (d) => { stderr += d; });
const issuer = await new Promise((resolve, reject) => {
  // Half a second here usually; once, in CI, not within 15 s (the provider was left
  // running): a generous bound, and the provider stopped when it is passed.
  const t = setTimeout(() => {
    child.kill('SIGKILL');
    reject(new Error(`no READY line within 60 s; stderr:\n${stderr}`));
  }, 60000);
  child.stdout.on('data', (d) => {
    stdout += d;
    const m = /^READY (\S+)\n/.exec(stdout);
    if (m) { clearTimeout(t); resolve(m[1]); }
  });
  child.on('exit', (code) => reject(new Error(`provider exited ${code}; stderr:\n${stderr}`)));
});
console.log(`# provider issuer ${issuer}`);
check('READY line format', /^http:\/\/127\.0\.0\.1:\d+$/.test(issuer), issuer);

// ---- helpers ----------------------------------------------------------------
class Jar {
  constructor() { this.cookies = new Map(); }
  store(res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now())
        || attrs.some((a) => /^\s*max-age=0/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

async function req(jar, url, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (jar && jar.cookies.size) headers.cookie = jar.header();
  const res = await fetch(url, { ...opts, headers, redirect: 'manual' });
  if (jar) jar.store(res);
  return res;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
function pkce() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// Follow redirects from GET /auth until we reach the redirect_uri.
async function authorize(jar, extra = {}) {
  const { verifier, challenge } = pkce();
  const state = b64url(crypto.randomBytes(12));
  const nonce = b64url(crypto.randomBytes(12));
  const params = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  let url = `${disco.authorization_endpoint}?${params}`;
  const hops = [];
  for (let i = 0; i < 15; i += 1) {
    const res = await req(jar, url);
    hops.push(`${res.status} ${new URL(url).pathname}`);
    if (res.status < 300 || res.status >= 400) {
      const text = await res.text();
      throw new Error(`unexpected ${res.status} at ${url}: ${text.slice(0, 500)} (hops ${hops.join(' -> ')})`);
    }
    const loc = new URL(res.headers.get('location'), url).href;
    await res.arrayBuffer();
    if (loc.startsWith(REDIRECT_URI)) {
      return { callback: new URL(loc), verifier, state, nonce, hops };
    }
    url = loc;
  }
  throw new Error(`too many redirects: ${hops.join(' -> ')}`);
}

const basic = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;
async function token(form) {
  const res = await fetch(disco.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: await res.json() };
}

let jwksKeys;
function verifyJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  const jwk = jwksKeys.find((k) => k.kid === header.kid);
  let valid = false;
  if (jwk && header.alg === 'RS256') {
    const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
    valid = crypto.verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
  }
  return { header, payload, valid };
}

const stats = async () => (await fetch(`${issuer}/test/stats`)).json();

// ---- discovery --------------------------------------------------------------
const disco = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
console.log('# endpoints', JSON.stringify({
  authorization_endpoint: disco.authorization_endpoint,
  token_endpoint: disco.token_endpoint,
  jwks_uri: disco.jwks_uri,
  userinfo_endpoint: disco.userinfo_endpoint,
  end_session_endpoint: disco.end_session_endpoint,
}));
check('discovery issuer', disco.issuer === issuer, disco.issuer);
check('discovery iss parameter supported', disco.authorization_response_iss_parameter_supported === true);
check('discovery prompt_values_supported has create', disco.prompt_values_supported?.includes('create'), disco.prompt_values_supported);
check('discovery backchannel_logout_session_supported', disco.backchannel_logout_session_supported === true);
check('discovery end_session_endpoint', typeof disco.end_session_endpoint === 'string');
check('discovery code_challenge_methods S256', JSON.stringify(disco.code_challenge_methods_supported) === '["S256"]');
check('discovery introspection endpoint (RFC 7662)', typeof disco.introspection_endpoint === 'string');
jwksKeys = (await (await fetch(disco.jwks_uri)).json()).keys;
check('jwks has RS256 + ES256', jwksKeys.some((k) => k.alg === 'RS256' && k.kty === 'RSA') && jwksKeys.some((k) => k.alg === 'ES256' && k.crv === 'P-256'));
check('jwks public only', jwksKeys.every((k) => k.d === undefined));

await fetch(`${issuer}/test/reset`, { method: 'POST' });

// ---- code flow ----------------------------------------------------------------
const browser = new Jar();
const a1 = await authorize(browser, { login_hint: 'alice', organization_id: 'org_123', connection_id: 'conn_9', screen_hint: 'signup' });
console.log(`# hops: ${a1.hops.join(' -> ')}`);
{
  const sa = await stats();
  check('stats last_authorization_params extras', sa.last_authorization_params.organization_id === 'org_123'
  && sa.last_authorization_params.connection_id === 'conn_9'
  && sa.last_authorization_params.screen_hint === 'signup'
  && sa.last_authorization_params.login_hint === 'alice', sa.last_authorization_params);
}
check('callback has code', !!a1.callback.searchParams.get('code'));
check('callback state matches', a1.callback.searchParams.get('state') === a1.state);
check('callback iss (RFC 9207)', a1.callback.searchParams.get('iss') === issuer, a1.callback.search);

const t1 = await token({
  grant_type: 'authorization_code',
  code: a1.callback.searchParams.get('code'),
  redirect_uri: REDIRECT_URI,
  code_verifier: a1.verifier,
});
check('token exchange 200', t1.status === 200, t1.body);
check('token response has access/refresh/id token', !!(t1.body.access_token && t1.body.refresh_token && t1.body.id_token), Object.keys(t1.body));
check('expires_in = access_token_ttl', t1.body.expires_in === 60, t1.body.expires_in);
console.log(`# token response scope="${t1.body.scope}" token_type=${t1.body.token_type}`);
const id1 = verifyJwt(t1.body.id_token);
console.log('# id_token header', JSON.stringify(id1.header));
console.log('# id_token payload', JSON.stringify(id1.payload));
check('id_token RS256 signature valid', id1.valid && id1.header.alg === 'RS256');
check('id_token iss/aud', id1.payload.iss === issuer && id1.payload.aud === CLIENT_ID);
check('id_token sub alice', id1.payload.sub === 'alice');
check('id_token nonce', id1.payload.nonce === a1.nonce);
check('id_token sid', typeof id1.payload.sid === 'string' && id1.payload.sid.length > 0);
check('id_token email', id1.payload.email === 'alice@example.com' && id1.payload.email_verified === true);
check('id_token name', id1.payload.name === 'Alice');
check('id_token ttl', id1.payload.exp - id1.payload.iat === 3600, id1.payload.exp - id1.payload.iat);

const ui = await (await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${t1.body.access_token}` } })).json();
check('userinfo', ui.sub === 'alice' && ui.email === 'alice@example.com' && ui.name === 'Alice', ui);

// ---- silent re-auth with the existing session: no interaction ----------------
const a1b = await authorize(browser, { login_hint: 'alice' });
check('second authorization with session: direct redirect', a1b.hops.length === 1 && !!a1b.callback.searchParams.get('code'), a1b.hops);

// ---- refresh rotation ---------------------------------------------------------
const r1 = await token({ grant_type: 'refresh_token', refresh_token: t1.body.refresh_token });
check('refresh 200', r1.status === 200, r1.body);
check('refresh rotated', r1.body.refresh_token && r1.body.refresh_token !== t1.body.refresh_token);
check('refresh returns id_token', !!r1.body.id_token);
if (r1.body.id_token) {
  const idr = verifyJwt(r1.body.id_token).payload;
  check('refreshed id_token keeps sid', idr.sid === id1.payload.sid, idr);
}
const r2 = await token({ grant_type: 'refresh_token', refresh_token: r1.body.refresh_token });
check('second refresh (rotated token) 200', r2.status === 200, r2.body);
const rOld = await token({ grant_type: 'refresh_token', refresh_token: t1.body.refresh_token });
check('old refresh token -> invalid_grant', rOld.status === 400 && rOld.body.error === 'invalid_grant', rOld.body);
const rAfterReuse = await token({ grant_type: 'refresh_token', refresh_token: r2.body.refresh_token });
console.log(`# after reuse detection the newest refresh token gives: ${rAfterReuse.status} ${JSON.stringify(rAfterReuse.body)}`);

let s = await stats();
console.log('# stats', JSON.stringify(s));
check('stats token_requests', s.token_requests === 5, s.token_requests);
check('stats code_grants', s.code_grants === 1, s.code_grants);
check('stats refresh_grants (attempts)', s.refresh_grants === 4, s.refresh_grants);
check('stats refresh_grants_ok', s.refresh_grants_ok === 2, s.refresh_grants_ok);

// ---- authorization code reuse (revokes that grant's tokens, per spec) ------
{
  const jarR = new Jar();
  const ar = await authorize(jarR, { login_hint: 'dave' });
  const form = {
    grant_type: 'authorization_code', code: ar.callback.searchParams.get('code'), redirect_uri: REDIRECT_URI, code_verifier: ar.verifier,
  };
  const first = await token(form);
  check('code exchange (dave) 200', first.status === 200, first.body);
  const again = await token(form);
  check('code reuse -> invalid_grant', again.status === 400 && again.body.error === 'invalid_grant', again.body);
  const rr = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
  check('refresh token of a reused code is revoked', rr.status === 400 && rr.body.error === 'invalid_grant', rr.body);
}

// ---- PKCE required --------------------------------------------------------------
{
  const params = new URLSearchParams({
    client_id: CLIENT_ID, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', state: 'x',
  });
  const res = await req(new Jar(), `${disco.authorization_endpoint}?${params}`);
  const loc = new URL(res.headers.get('location') || 'http://x/');
  check('missing PKCE -> invalid_request', res.status === 303 && loc.searchParams.get('error') === 'invalid_request', `${res.status} ${loc}`);
}

// ---- prompt=create ------------------------------------------------------------
const jar2 = new Jar();
const a2 = await authorize(jar2, { prompt: 'create', login_hint: 'bob', screen_hint: 'signup' });
check('prompt=create -> code', !!a2.callback.searchParams.get('code'), a2.callback.search);
const t2 = await token({
  grant_type: 'authorization_code', code: a2.callback.searchParams.get('code'), redirect_uri: REDIRECT_URI, code_verifier: a2.verifier,
});
const id2 = verifyJwt(t2.body.id_token).payload;
check('prompt=create logs in login_hint bob', id2.sub === 'bob' && id2.name === 'Bob' && id2.email === 'bob@example.com', id2);
check('prompt=create gives refresh token', !!t2.body.refresh_token);
// prompt=create again in the same browser forces a new login interaction.
const a2b = await authorize(jar2, { prompt: 'create', login_hint: 'bob' });
check('prompt=create with a session still runs the login interaction', a2b.hops.some((h) => h.includes('/interaction/')), a2b.hops);
// prompt=login also accepted
const a2c = await authorize(jar2, { prompt: 'login', login_hint: 'bob' });
check('prompt=login -> code', !!a2c.callback.searchParams.get('code'));

// ---- login_hint=deny ------------------------------------------------------------
const a3 = await authorize(new Jar(), { login_hint: 'deny' });
check('login_hint=deny -> error=access_denied', a3.callback.searchParams.get('error') === 'access_denied', a3.callback.search);
check('deny error_description', a3.callback.searchParams.get('error_description') === 'The user cancelled sign-in');
check('deny carries state and iss', a3.callback.searchParams.get('state') === a3.state && a3.callback.searchParams.get('iss') === issuer);
// deny also with an existing session
const a3b = await authorize(jar2, { login_hint: 'deny' });
check('login_hint=deny with a session -> access_denied', a3b.callback.searchParams.get('error') === 'access_denied', a3b.callback.search);

// ---- unknown prompt rejected ----------------------------------------------------
{
  const { challenge } = pkce();
  const params = new URLSearchParams({
    client_id: CLIENT_ID, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', state: 'x',
    code_challenge: challenge, code_challenge_method: 'S256', prompt: 'bogus',
  });
  const res = await req(new Jar(), `${disco.authorization_endpoint}?${params}`);
  const loc = new URL(res.headers.get('location') || 'http://x/');
  console.log(`# prompt=bogus -> ${loc.searchParams.get('error')}: ${loc.searchParams.get('error_description')}`);
}

s = await stats();
check('stats prompts recorded', JSON.stringify(s.prompts) === JSON.stringify(['create', 'create', 'login', 'bogus']), s.prompts);
console.log('# interactions', JSON.stringify(s.interactions));

// ---- RP-initiated logout + back-channel logout ---------------------------------
const endUrl = `${disco.end_session_endpoint}?${new URLSearchParams({
  id_token_hint: t1.body.id_token,
  post_logout_redirect_uri: `${rpBase}/`,
  state: 'logout-state',
})}`;
const e1 = await req(browser, endUrl);
const html = await e1.text();
console.log(`# end_session page (${e1.status}):\n${html}`);
check('end_session -> 200 html', e1.status === 200 && /text\/html/.test(e1.headers.get('content-type')));
const formM = /<form id="op\.logoutForm" method="post" action="([^"]+)">/.exec(html);
const xsrfM = /name="xsrf" value="([^"]+)"/.exec(html);
check('logout form present', !!formM && !!xsrfM);
check('logout form has logout=yes', /name="logout" value="yes"/.test(html));
check('logout page auto-submits', /\.submit\(\)/.test(html));
const before = logoutPosts.length;
const e2 = await req(browser, formM[1], {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ xsrf: xsrfM[1], logout: 'yes' }),
});
const e2loc = e2.headers.get('location');
check('confirm -> 303 to post_logout_redirect_uri with state', e2.status === 303 && e2loc === `${rpBase}/?state=logout-state`, `${e2.status} ${e2loc}`);
check('back-channel logout POST received before the 303', logoutPosts.length === before + 1, logoutPosts.length);
if (logoutPosts.length > before) {
  const post = logoutPosts[before];
  console.log(`# back-channel POST content-type=${post.headers['content-type']} body=${post.body.slice(0, 60)}...`);
  const lt = new URLSearchParams(post.body).get('logout_token');
  const v = verifyJwt(lt);
  console.log('# logout_token header', JSON.stringify(v.header));
  console.log('# logout_token payload', JSON.stringify(v.payload));
  check('logout_token signature valid', v.valid);
  check('logout_token sid = id_token sid', v.payload.sid === id1.payload.sid);
  check('logout_token sub/aud/iss', v.payload.sub === 'alice' && v.payload.aud === CLIENT_ID && v.payload.iss === issuer);
  check('logout_token events', v.payload.events && 'http://schemas.openid.net/event/backchannel-logout' in v.payload.events);
  check('logout_token has no nonce', v.payload.nonce === undefined);
  check('logout_token typ', v.header.typ === 'logout+jwt', v.header.typ);
}
s = await stats();
check('stats backchannel sent/ok', s.backchannel_logouts_sent === 1 && s.backchannel_logouts_ok === 1, s);
// Refresh tokens of the logged-out session (no offline_access without prompt=consent) are gone.
const rAfterLogout = await token({ grant_type: 'refresh_token', refresh_token: r2.body.refresh_token });
console.log(`# refresh after logout: ${rAfterLogout.status} ${JSON.stringify(rAfterLogout.body)}`);
// A new authorization in the same browser needs a new login.
const a4 = await authorize(browser, { login_hint: 'carol' });
check('after logout a new login happens', a4.hops.some((h) => h.includes('/interaction/')), a4.hops);

// ---- reset ---------------------------------------------------------------------
const reset = await (await fetch(`${issuer}/test/reset`, { method: 'POST' })).json();
check('reset zeroes counters', reset.token_requests === 0 && reset.refresh_grants === 0 && reset.backchannel_logouts_sent === 0 && reset.prompts.length === 0);

// ---- shutdown ------------------------------------------------------------------
child.kill('SIGTERM');
const [code, signal] = await once(child, 'exit');
check('exits cleanly on SIGTERM', code === 0, { code, signal });
check('stdout had exactly the READY line', stdout === `READY ${issuer}\n`, stdout);
rp.close();
if (process.env.SELFTEST_VERBOSE) console.log(`# provider stderr:\n${stderr}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
