// The vendors' own SDKs as referees: one call per run, its input a JSON object in
// argv[2], its answer one JSON object on stdout (`{"error": ...}` on failure, exit 1).
// The Rust acceptance suite runs it to compare what the SDKs build and send with what
// this library builds and sends, against auth-testkit's emulations.
//
//   {"sdk": "workos", "api": {"base": "http://127.0.0.1:PORT", "key": "...", "client_id": "..."},
//    "call": "authorization_url" | "authenticate_with_code" | "authenticate_with_refresh_token"
//          | "logout_url" | "jwks_url" | "pkce", ...arguments}
//   {"sdk": "scalekit", "api": {"base": "...", "client_id": "...", "secret": "..."},
//    "call": "authorization_url" | "authenticate_with_code" | "validate_access_token", ...}

import crypto from 'node:crypto';
import { ScalekitClient } from '@scalekit-sdk/node';
import { WorkOS } from '@workos-inc/node';

function workos(api) {
  const url = new URL(api.base);
  return new WorkOS(api.key, {
    clientId: api.client_id,
    apiHostname: url.hostname,
    https: url.protocol === 'https:',
    port: Number(url.port),
  });
}

function scalekit(api) {
  return new ScalekitClient(api.base, api.client_id, api.secret);
}

const calls = {
  // A PKCE pair (RFC 7636, S256), for a login the SDK starts.
  pkce: async () => {
    const verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    return { verifier, challenge };
  },
  'workos.authorization_url': async (input) => {
    const p = input.params;
    const url = workos(input.api).userManagement.getAuthorizationUrl({
      clientId: input.api.client_id,
      redirectUri: p.redirect_uri,
      state: p.state,
      codeChallenge: p.code_challenge,
      codeChallengeMethod: p.code_challenge ? 'S256' : undefined,
      provider: p.provider,
      connectionId: p.connection_id,
      organizationId: p.organization_id,
      loginHint: p.login_hint,
      screenHint: p.screen_hint,
      domainHint: p.domain_hint,
      providerScopes: p.provider_scopes,
    });
    return { url };
  },
  'workos.authenticate_with_code': async (input) => {
    const r = await workos(input.api).userManagement.authenticateWithCode({
      clientId: input.api.client_id,
      code: input.code,
      codeVerifier: input.code_verifier,
    });
    return {
      user_id: r.user.id,
      organization_id: r.organizationId ?? null,
      access_token: r.accessToken,
      refresh_token: r.refreshToken,
    };
  },
  'workos.authenticate_with_refresh_token': async (input) => {
    const r = await workos(input.api).userManagement.authenticateWithRefreshToken({
      clientId: input.api.client_id,
      refreshToken: input.refresh_token,
      organizationId: input.organization_id,
    });
    return {
      organization_id: r.organizationId ?? null,
      access_token: r.accessToken,
      refresh_token: r.refreshToken,
    };
  },
  'workos.logout_url': async (input) => ({
    url: workos(input.api).userManagement.getLogoutUrl({
      sessionId: input.session_id,
      returnTo: input.return_to,
    }),
  }),
  'workos.jwks_url': async (input) => ({
    url: workos(input.api).userManagement.getJwksUrl(input.api.client_id),
  }),
  'scalekit.authorization_url': async (input) => {
    const p = input.params;
    const url = scalekit(input.api).getAuthorizationUrl(p.redirect_uri, {
      scopes: p.scopes,
      state: p.state,
      nonce: p.nonce,
      loginHint: p.login_hint,
      domainHint: p.domain_hint,
      connectionId: p.connection_id,
      organizationId: p.organization_id,
      codeChallenge: p.code_challenge,
      codeChallengeMethod: p.code_challenge ? 'S256' : undefined,
      prompt: p.prompt,
    });
    return { url };
  },
  'scalekit.authenticate_with_code': async (input) => {
    const r = await scalekit(input.api).authenticateWithCode(input.code, input.redirect_uri, {
      codeVerifier: input.code_verifier,
    });
    return {
      user: r.user,
      id_token: r.idToken,
      access_token: r.accessToken,
      expires_in: r.expiresIn ?? null,
    };
  },
  'scalekit.validate_access_token': async (input) => ({
    valid: await scalekit(input.api).validateAccessToken(input.token),
  }),
};

const input = JSON.parse(process.argv[2] ?? '{}');
const name = input.call === 'pkce' ? 'pkce' : `${input.sdk}.${input.call}`;
const call = calls[name];
try {
  if (!call) throw new Error(`unknown call ${name}`);
  process.stdout.write(`${JSON.stringify(await call(input))}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ error: String(e?.message ?? e), status: e?.status ?? null })}\n`);
  process.exitCode = 1;
}
