// Local OpenID Connect provider used as a test fixture and demo IdP.
//
// Runs panva's `oidc-provider` (pinned in package.json) on 127.0.0.1.
// stdout carries exactly one line, `READY <issuer>`, once the server is
// listening; everything else goes to stderr.
//
// Configuration: env OIDC_TEST_CONFIG (JSON, all fields optional) and PORT.
// See README.md.
//
// With OIDC_TEST_SHARED=1 it is one process for many providers (a test binary's):
// `POST /__providers` with a configuration as the JSON body starts a provider whose
// issuer is `http://127.0.0.1:<port>/p/<n>` (the answer: `{"issuer": ...}`),
// `DELETE /p/<n>` stops it, and the process exits when its stdin closes (the test
// binary ended). Each provider has its own keys, clients, sessions and stats.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors, interactionPolicy } from 'oidc-provider';

// ---------------------------------------------------------------------------
// stdout is reserved for the READY line. oidc-provider prints its NOTICEs via
// console.info, so route every console method to stderr.
const toStderr = (...args) => console.error(...args);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

const log = (...args) => console.error('[test-provider]', ...args);

// ---------------------------------------------------------------------------
// Configuration

const DEFAULT_CLIENT = {
  client_id: 'demo-client',
  client_secret: 'demo-secret-demo-secret-demo-secret',
  redirect_uris: ['http://127.0.0.1:3000/auth/callback'],
  post_logout_redirect_uris: ['http://127.0.0.1:3000/'],
  backchannel_logout_uri: 'http://127.0.0.1:3000/auth/backchannel-logout',
  token_endpoint_auth_method: 'client_secret_basic',
};

const KNOWN_KEYS = new Set([
  'port', 'clients', 'access_token_ttl', 'id_token_ttl', 'refresh_token_ttl', 'interactive',
  'api_resources', 'opaque_api_resources', 'fapi',
]);

class ConfigError extends Error {}

// The configuration of one provider from `raw` (the JSON object); throws ConfigError.
function parseConfig(raw) {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError('the configuration must be a JSON object');
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) log(`warning: unknown OIDC_TEST_CONFIG key ${JSON.stringify(key)} ignored`);
  }


  let port = raw.port ?? 0;
  if (process.env.PORT !== undefined && process.env.PORT !== '') port = process.env.PORT;
  port = Number(port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`invalid port ${JSON.stringify(port)}`);
  }

  const positive = (name, def) => {
    const v = raw[name] ?? def;
    if (!Number.isInteger(v) || v <= 0) {
      throw new ConfigError(`${name} must be a positive integer (seconds)`);
    }
    return v;
  };

  // Resource servers (APIs) for which the client_credentials grant issues JWT access
  // tokens (RFC 9068), e.g. {"https://api.test": "api:read api:write"}.
  // `opaque_api_resources`: the same, with opaque access tokens (a resource server
  // learns what they grant by introspection, RFC 7662).
  const resources = (key) => {
    const r = raw[key] ?? {};
    if (r === null || typeof r !== 'object' || Array.isArray(r)
      || !Object.values(r).every((v) => typeof v === 'string')) {
      throw new ConfigError(`${key} must be an object of resource URL -> space-separated scopes`);
    }
    return r;
  };
  const apiResources = resources('api_resources');
  const opaqueApiResources = resources('opaque_api_resources');
  const withApis = Object.keys(apiResources).length + Object.keys(opaqueApiResources).length > 0;

  const clientsIn = raw.clients ?? [DEFAULT_CLIENT];
  if (!Array.isArray(clientsIn) || clientsIn.length === 0) {
    throw new ConfigError('clients must be a non-empty array');
  }
  const clients = clientsIn.map((c) => {
    const client = {
      token_endpoint_auth_method: 'client_secret_basic',
      ...c,
      // Enforced for every client:
      grant_types: withApis
        ? ['authorization_code', 'refresh_token', 'client_credentials']
        : ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      backchannel_logout_session_required: true,
      // RS256 unless the client says (a FAPI 2.0 client takes ES256 or PS256).
      id_token_signed_response_alg: c.id_token_signed_response_alg ?? 'RS256',
    };
    if (client.token_endpoint_auth_method === 'none') delete client.client_secret;
    for (const key of ['post_logout_redirect_uris', 'backchannel_logout_uri']) {
      if (client[key] === undefined || client[key] === null) delete client[key];
    }
    return client;
  });

  return {
    port,
    clients,
    accessTokenTtl: positive('access_token_ttl', 60),
    idTokenTtl: positive('id_token_ttl', 3600),
    refreshTokenTtl: positive('refresh_token_ttl', 24 * 60 * 60),
    interactive: raw.interactive === true,
    apiResources,
    opaqueApiResources,
    // FAPI 2.0: pushed authorization requests required, DPoP available (with nonces),
    // oidc-provider's FAPI 2.0 profile (assertion `aud` = issuer, PKCE...).
    fapi: raw.fapi === true,
  };
}

// The env mode's configuration: OIDC_TEST_CONFIG, PORT.
function loadConfig() {
  let raw = {};
  const text = process.env.OIDC_TEST_CONFIG;
  if (text !== undefined && text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      log(`OIDC_TEST_CONFIG is not valid JSON: ${err.message}`);
      process.exit(2);
    }
  }
  try {
    return parseConfig(raw);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log(`OIDC_TEST_CONFIG: ${err.message}`);
    process.exit(2);
  }
}

const SHARED = process.env.OIDC_TEST_SHARED === '1';

// ---------------------------------------------------------------------------
// Keys (fresh for every run)

function signingJwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `${alg.toLowerCase()}-${crypto.randomBytes(6).toString('hex')}`, alg, use: 'sig' };
}


// ---------------------------------------------------------------------------
// Test statistics (GET /test/stats, POST /test/reset)

function freshStats() {
  return {
    authorization_requests: 0,
    // Pushed authorization requests (RFC 9126) answered 201, and the last one's form.
    pushed_requests: 0,
    last_pushed_params: {},
    token_requests: 0,
    code_grants: 0,
    refresh_grants: 0,
    refresh_grants_ok: 0,
    backchannel_logouts_sent: 0,
    backchannel_logouts_ok: 0,
    backchannel_logouts_failed: 0,
    end_sessions: 0,
    // Revocation requests (RFC 7009) answered 200, and the token_type_hint of each.
    revocations: 0,
    revocation_hints: [],
    // Introspection requests (RFC 7662) answered 200.
    introspections: 0,
    last_authorization_params: {},
    // Raw `prompt` parameter of every authorization request that carried one.
    prompts: [],
    // Interactions the non-interactive handler resolved (and denials).
    interactions: [],
    last_backchannel_error: null,
    // Every secret the token endpoint saw or issued (test fixture only: the leak
    // tests look for them in the relying party's logs and pages).
    token_secrets: [],
  };
}
const LIST_CAP = 1000; // keep the stats lists bounded in long demo runs
function pushCapped(list, item) {
  list.push(item);
  if (list.length > LIST_CAP) list.splice(0, list.length - LIST_CAP);
}

// ---------------------------------------------------------------------------
// Accounts: any id exists.

function capitalise(id) {
  return id.length ? id.charAt(0).toUpperCase() + id.slice(1) : id;
}

async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: `${id}@example.com`,
        email_verified: true,
        name: capitalise(id),
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Interaction policy: login + consent (defaults) plus a requestable `create`
// prompt so that prompt=create is accepted. `create` never starts an
// interaction of its own: it forces the login prompt instead (like
// prompt=login), so devInteractions shows its ordinary login form.

const { Prompt, Check, base } = interactionPolicy;
const policy = base();
const loginPrompt = policy.get('login');
loginPrompt.checks.add(new Check(
  'create_prompt',
  'account creation (prompt=create) was requested',
  'login_required',
  (ctx) => {
    const { oidc } = ctx;
    if (oidc.prompts.has('create') && !oidc.result?.login) return Check.REQUEST_PROMPT;
    return Check.NO_NEED_TO_PROMPT;
  },
), 0);
loginPrompt.checks.add(new Check(
  'login_hint_deny',
  'login_hint=deny always requires an interaction (that the fixture denies)',
  'login_required',
  (ctx) => (ctx.oidc.params.login_hint === 'deny' && !ctx.oidc.result?.login
    ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT),
));
const createPrompt = new Prompt({ name: 'create', requestable: true });
createPrompt.checks.clear(); // requestable (advertised + accepted) but never prompts itself
policy.add(createPrompt);

// ---------------------------------------------------------------------------
// HTML pages

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

const page = (title, body) => `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
${body}
</body>
</html>`;

async function logoutSource(ctx, form) {
  // `form` is: <form id="op.logoutForm" method="post" action="<issuer>/session/end/confirm">
  //              <input type="hidden" name="xsrf" value="..."/></form>
  // Add logout=yes (full sign-out incl. back-channel logout to every client of
  // the session) and a no-JS submit button, then auto-submit it.
  const withLogout = form.replace(
    '</form>',
    '<input type="hidden" name="logout" value="yes"/>'
      + '<noscript><button type="submit">Sign out</button></noscript></form>',
  );
  ctx.type = 'html';
  ctx.body = page('Signing out', `<p>Signing out&hellip;</p>
${withLogout}
<script>document.getElementById('op.logoutForm').submit();</script>`);
}

async function postLogoutSuccessSource(ctx) {
  const client = ctx.oidc.client?.clientId;
  ctx.type = 'html';
  ctx.body = page('Signed out', `<h1>Signed out</h1><p>You have been signed out${client ? ` of ${escapeHtml(client)}` : ''}.</p>`);
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', `<h1>Error</h1>${Object.entries(out)
    .map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: <span id="${escapeHtml(k)}">${escapeHtml(v)}</span></p>`)
    .join('\n')}`);
}

// ---------------------------------------------------------------------------
// One provider: its keys, clients, sessions, stats, and what it answers. The env
// mode runs one at the root; the shared mode one per `POST /__providers`.

// Whether the provider serves resource servers (the client_credentials grant).
function withApis(config) {
  return Object.keys(config.apiResources).length + Object.keys(config.opaqueApiResources).length > 0;
}

function createInstance(config, issuer) {
  // This provider's own keys (new for every provider) and counters.
  const jwks = {
    keys: [
      signingJwk('rsa', { modulusLength: 2048 }, 'RS256'),
      signingJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  };

  const cookieKeys = [
    crypto.randomBytes(32).toString('base64url'),
    crypto.randomBytes(32).toString('base64url'),
  ];
  let stats = freshStats();
  // The issuer's path: where this provider is mounted ('' at the root).
  const mountPath = new URL(issuer).pathname.replace(/\/$/, '');

  // ---------------------------------------------------------------------------
  // Provider

  function buildProvider(issuer) {
    const provider = new Provider(issuer, {
      clients: config.clients,
      jwks,
      findAccount,
      cookies: { keys: cookieKeys },
      responseTypes: ['code'],
      scopes: ['openid', 'profile', 'email', 'offline_access'],
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['name'],
      },
      // Put scope claims (email, name) into the ID token of the code flow too.
      conformIdTokenClaims: false,
      extraParams: [
        'organization_id', 'connection_id', 'domain_hint', 'screen_hint', 'provider', 'provider_scopes',
      ],
      pkce: { required: () => true },
      // oidc-provider v9 does not publish prompt_values_supported itself;
      // advertise `create` (OpenID Connect Prompt Create 1.0).
      discovery: {
        claim_types_supported: ['normal'],
        prompt_values_supported: ['none', 'login', 'consent', 'create'],
      },
      // The default /interaction/<uid>, below the provider's mount (`/p/<n>` in the
      // shared mode).
      interactions: {
        policy,
        url: (_ctx, interaction) => `${mountPath}/interaction/${interaction.uid}`,
      },
      features: {
        devInteractions: { enabled: config.interactive },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
        clientCredentials: { enabled: withApis(config) },
        // Only the client_credentials grant names a resource; the code flow keeps
        // opaque access tokens for userinfo.
        resourceIndicators: {
          enabled: withApis(config),
          defaultResource: async () => undefined,
          useGrantedResource: async () => false,
          getResourceServerInfo: async (_ctx, resource) => {
            const opaque = config.opaqueApiResources[resource];
            if (opaque !== undefined) {
              return {
                scope: opaque,
                audience: resource,
                accessTokenTTL: config.accessTokenTtl,
                accessTokenFormat: 'opaque',
              };
            }
            const scope = config.apiResources[resource];
            if (scope === undefined) throw new errors.InvalidTarget();
            return {
              scope,
              audience: resource,
              accessTokenTTL: config.accessTokenTtl,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'RS256' } },
            };
          },
        },
        pushedAuthorizationRequests: {
          enabled: true,
          requirePushedAuthorizationRequests: config.fapi,
        },
        dPoP: { enabled: config.fapi, nonceSecret: crypto.randomBytes(32), requireNonce: () => true },
        fapi: { enabled: config.fapi, profile: '2.0' },
        // RFC 7662: the relying party's API checks opaque access tokens.
        introspection: { enabled: true },
        // RFC 7009: the relying party revokes a session's refresh token when it ends.
        revocation: { enabled: true },
        registration: { enabled: false },
      },
      issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      // FAPI 2.0 forbids rotating a confidential client's refresh tokens.
      rotateRefreshToken: !config.fapi,
      ttl: {
        AccessToken: config.accessTokenTtl,
        ClientCredentials: config.accessTokenTtl,
        AuthorizationCode: 60,
        IdToken: config.idTokenTtl,
        RefreshToken: config.refreshTokenTtl,
        Interaction: 60 * 60,
        Session: 24 * 60 * 60,
        Grant: 24 * 60 * 60,
      },
      renderError,
      clientBasedCORS: () => true,
      // oidc-provider passes an SSRF-guarding undici dispatcher that refuses
      // special-use addresses (127.0.0.0/8 included). Back-channel logout goes
      // to loopback RPs here, so drop it and use the default dispatcher.
      fetch: (url, options) => {
        const { dispatcher, ...rest } = options;
        return globalThis.fetch(url, rest);
      },
    });

    // -- bookkeeping middleware (runs before oidc-provider's router) ----------
    provider.use(async (ctx, next) => {
      if (ctx.path === '/auth' && ctx.method === 'GET') {
        stats.authorization_requests += 1;
        stats.last_authorization_params = { ...ctx.query };
        if (typeof ctx.query.prompt === 'string') pushCapped(stats.prompts, ctx.query.prompt);
      }
      await next();
      let route;
      try { route = ctx.oidc?.route; } catch { route = undefined; }
      if (route === 'authorization' && ctx.method === 'POST') {
        let body;
        try { body = ctx.oidc.body; } catch { body = undefined; }
        stats.authorization_requests += 1;
        stats.last_authorization_params = { ...(body || {}) };
        if (typeof body?.prompt === 'string') pushCapped(stats.prompts, body.prompt);
      }
      if (route === 'pushed_authorization_request' && ctx.status === 201) {
        stats.pushed_requests += 1;
        let body;
        try { body = ctx.oidc.body; } catch { body = undefined; }
        const { client_assertion: _a, client_secret: _s, ...params } = body || {};
        stats.last_pushed_params = params;
      }
      if (route === 'token') {
        let grantType;
        try { grantType = ctx.oidc.params?.grant_type ?? ctx.oidc.body?.grant_type; } catch { /* ignore */ }
        stats.token_requests += 1;
        try {
          const p = ctx.oidc.params ?? {};
          const b = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
          for (const v of [p.code, p.code_verifier, p.refresh_token, b.access_token, b.refresh_token, b.id_token]) {
            if (typeof v === 'string' && v !== '') pushCapped(stats.token_secrets, v);
          }
        } catch { /* ignore */ }
        if (grantType === 'authorization_code') stats.code_grants += 1;
        if (grantType === 'refresh_token') {
          stats.refresh_grants += 1;
          if (ctx.status === 200) stats.refresh_grants_ok += 1;
        }
      }
      if (route === 'end_session_confirm' && ctx.status === 303) stats.end_sessions += 1;
      if (route === 'introspection' && ctx.status === 200) stats.introspections += 1;
      if (route === 'revocation' && ctx.status === 200) {
        stats.revocations += 1;
        let hint;
        try { hint = ctx.oidc.params?.token_type_hint; } catch { hint = undefined; }
        pushCapped(stats.revocation_hints, hint ?? null);
      }
    });

    provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
      stats.backchannel_logouts_sent += 1;
      stats.backchannel_logouts_ok += 1;
      log(`back-channel logout OK client=${client.clientId} sub=${accountId} sid=${sid}`);
    });
    provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => {
      stats.backchannel_logouts_sent += 1;
      stats.backchannel_logouts_failed += 1;
      stats.last_backchannel_error = `${client.clientId}: ${err.message}${err.cause ? ` (${err.cause.message ?? err.cause})` : ''}`;
      log(`back-channel logout FAILED client=${client.clientId} sub=${accountId} sid=${sid}: ${stats.last_backchannel_error}`);
    });
    provider.on('server_error', (_ctx, err) => log('server_error', err));
    // The error responses are generic: the reason is in `error_detail`.
    for (const ev of ['authorization.error', 'grant.error', 'end_session.error', 'end_session_confirm.error', 'userinfo.error', 'pushed_authorization_request.error']) {
      provider.on(ev, (_ctx, err) => log(`${ev}: ${err.error ?? err.name}${err.error_description ? ` (${err.error_description})` : ''}${err.error_detail ? ` [${err.error_detail}]` : ''}`));
    }

    return provider;
  }

  // ---------------------------------------------------------------------------
  // Automatic interactions (app level, before the provider's own routes)

  async function handleInteraction(provider, req, res) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`interaction not found: ${err.error_description || err.message}\n`);
      return true;
    }
    const { prompt, params, session, grantId, uid } = details;
    const loginHint = typeof params.login_hint === 'string' && params.login_hint !== '' ? params.login_hint : 'alice';
    const entry = { uid, prompt: prompt.name, reasons: prompt.reasons, login_hint: params.login_hint ?? null };

    if (loginHint === 'deny') {
      pushCapped(stats.interactions, { ...entry, result: 'access_denied' });
      log(`interaction ${uid}: login_hint=deny -> access_denied`);
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'The user cancelled sign-in',
      }, { mergeWithLastSubmission: false });
      return true;
    }

    switch (prompt.name) {
      case 'login':
      case 'create': {
        if (config.interactive) return false; // devInteractions renders its login form
        pushCapped(stats.interactions, { ...entry, result: `login:${loginHint}` });
        log(`interaction ${uid}: ${prompt.name} (${prompt.reasons.join(',')}) -> accountId=${loginHint}`);
        await provider.interactionFinished(req, res, {
          login: { accountId: loginHint },
          ...(prompt.name === 'create' || String(params.prompt || '').split(' ').includes('create')
            ? { create: { requested: true } } : {}),
        }, { mergeWithLastSubmission: false });
        return true;
      }
      case 'consent': {
        // Auto-consent in both modes.
        const grant = grantId
          ? await provider.Grant.find(grantId)
          : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
        const d = prompt.details || {};
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
        if (d.missingResourceScopes) {
          for (const [indicator, scope] of Object.entries(d.missingResourceScopes)) {
            grant.addResourceScope(indicator, scope.join(' '));
          }
        }
        const savedGrantId = await grant.save();
        pushCapped(stats.interactions, { ...entry, result: 'consent' });
        log(`interaction ${uid}: consent (${(d.missingOIDCScope || []).join(' ')}) for ${session.accountId}`);
        await provider.interactionFinished(req, res, { consent: { grantId: savedGrantId } }, {
          mergeWithLastSubmission: true,
        });
        return true;
      }
      default:
        if (config.interactive) return false;
        res.writeHead(501, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`prompt ${prompt.name} not supported by the test provider\n`);
        return true;
    }
  }

  const provider = buildProvider(issuer);
  const providerCallback = provider.callback();
  log(`issuer ${issuer}; interactive=${config.interactive}; clients=${config.clients.map((c) => c.client_id).join(',')}`);

  // `pathname` is the request's path below the provider's mount.
  async function handle(req, res, pathname) {
    if (pathname === '/test/stats') {
      if (req.method !== 'GET') { sendJson(res, 405, { error: 'method not allowed' }); return; }
      sendJson(res, 200, stats);
      return;
    }
    if (pathname === '/test/reset') {
      if (req.method !== 'POST') { sendJson(res, 405, { error: 'method not allowed' }); return; }
      stats = freshStats();
      sendJson(res, 200, stats);
      return;
    }
    if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(pathname)) {
      if (await handleInteraction(provider, req, res)) return;
    }
    providerCallback(req, res);
  }

  return { handle };
}

// ---------------------------------------------------------------------------
// HTTP server


function sendJson(res, status, body) {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

// The env mode's one provider, once listening.
let single = null;
// The shared mode's providers, by number.
const instances = new Map();
let nextInstance = 1;
// A configuration posted to `/__providers` is at most this long.
const MAX_CONFIG_BYTES = 64 * 1024;

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_CONFIG_BYTES) throw new ConfigError('configuration too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function shared(req, res, pathname) {
  if (pathname === '/__providers') {
    if (req.method !== 'POST') { sendJson(res, 405, { error: 'method not allowed' }); return; }
    let config;
    try {
      const text = await readBody(req);
      config = parseConfig(text.trim() === '' ? {} : JSON.parse(text));
    } catch (err) {
      sendJson(res, 400, { error: err.message });
      return;
    }
    const { port } = server.address();
    const n = String(nextInstance++);
    const issuer = `http://127.0.0.1:${port}/p/${n}`;
    instances.set(n, createInstance(config, issuer));
    sendJson(res, 201, { issuer });
    return;
  }
  const m = /^\/p\/(\d+)(\/.*)?$/.exec(pathname);
  const instance = m && instances.get(m[1]);
  if (!instance) { sendJson(res, 404, { error: 'no such provider' }); return; }
  if (m[2] === undefined && req.method === 'DELETE') {
    instances.delete(m[1]);
    sendJson(res, 200, {});
    return;
  }
  // Mounted below /p/<n>: oidc-provider reads its mount path off `originalUrl`.
  const prefix = `/p/${m[1]}`;
  req.originalUrl = req.url;
  req.url = req.url.slice(prefix.length) || '/';
  await instance.handle(req, res, m[2] ?? '/');
}

const server = http.createServer(async (req, res) => {
  try {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (SHARED) {
      await shared(req, res, pathname);
    } else if (!single) {
      res.writeHead(503);
      res.end();
    } else {
      await single.handle(req, res, pathname);
    }
  } catch (err) {
    log('request failed', err);
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' });
    }
    res.end('internal error\n');
  }
});

server.on('error', (err) => {
  log(`server error: ${err.message}`);
  process.exit(1);
});

const config = SHARED ? null : loadConfig();
server.listen(SHARED ? Number(process.env.PORT || 0) : config.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  if (SHARED) {
    // The test binary that started this process holds its stdin: when it ends,
    // however it ends, so does this process.
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  } else {
    single = createInstance(config, issuer);
  }
  process.stdout.write(`READY ${issuer}\n`);
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
