//! OpenID Connect (Core 1.0, RP-Initiated Logout 1.0): the code is exchanged at the
//! token endpoint (with PKCE, client authentication, DPoP) for an ID token checked
//! against the login's `nonce`, `max_age`, `acr_values` and organization; a refresh
//! keeps the ID token rules of OIDC Core §12.2; sign-out goes to the end-session
//! endpoint with `id_token_hint`.

use oauth2::{AuthorizationCode, PkceCodeVerifier, RefreshToken as OAuthRefreshToken};
use oauth2::{RequestTokenError, TokenResponse};
use url::Url;

use crate::auth::Auth;
use crate::flow::callback::{CallbackError, check_login_claims, check_organization};
use crate::flow::pending::PendingLogin;
use crate::flow::refresh::RefreshError;
use crate::jose::jwks::TokenSource;
use crate::jose::secret::{AccessToken, IdToken, RefreshToken};
use crate::jose::{IdTokenCheck, TokenError};
use crate::outage::Outage;
use crate::provider::config::ProviderConfig;
use crate::provider::state::{Discovered, ProviderState};
use crate::provider::token::{TokenExchangeError, granted_scope, map_token_error};
use crate::session::AuthSession;
use crate::session::Refreshed;

impl Auth {
    /// The callback's code exchange and checks for an OpenID provider: the session,
    /// or why there is none.
    pub(crate) async fn oidc_sign_in(
        &self,
        provider: &ProviderState,
        discovered: &Discovered,
        pending: &PendingLogin,
        code: &str,
        now: i64,
    ) -> Result<AuthSession, CallbackError> {
        let config = &provider.config;
        let code = code.to_owned();
        // With DPoP, the session's key is made now: the tokens are bound to it.
        let dpop = config.dpop.then(crate::jose::dpop::DpopKey::generate);
        let response = discovered
            .token_request(&provider.http, dpop.as_ref(), |fields, transport| {
                let mut exchange = discovered
                    .oauth
                    .exchange_code(AuthorizationCode::new(code.clone()))
                    .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
                for (name, value) in fields {
                    exchange = exchange.add_extra_param(name, value);
                }
                async move { exchange.request_async(&transport).await }
            })
            .await
            .map_err(|e: RequestTokenError<_, _>| CallbackError::from(map_token_error(e)))?;
        crate::provider::token::check_token_type(&response, dpop.is_some())?;

        let Some(id_token) = response.extra_fields().id_token.clone() else {
            return Err(CallbackError::MissingIdToken);
        };
        let claims = discovered
            .verifier
            .id_token(
                id_token.secret(),
                IdTokenCheck::Login {
                    nonce: &pending.nonce,
                },
                // Straight from the token endpoint: an unknown `kid` is a rotation.
                TokenSource::Provider,
            )
            .await
            .map_err(CallbackError::of_id_token)?;
        let mut id_map = claims.to_map();
        check_login_claims(pending, &claims, &id_map, now, self)?;
        if let Some(hd) = config.pinned_hosted_domain() {
            let got = id_map.get("hd").and_then(|v| v.as_str());
            if !got.is_some_and(|g| g.eq_ignore_ascii_case(hd)) {
                return Err(CallbackError::HostedDomainMismatch);
            }
        }
        let access_token = response.access_token().secret().clone();
        let claims = if config.userinfo_at_sign_in {
            let token = AccessToken::new(access_token.clone());
            let extra = self
                .userinfo_with(provider, &token, dpop.as_ref(), claims.sub())
                .await
                .map_err(CallbackError::UserInfo)?;
            // The ID token's claims win: UserInfo only adds what it lacks.
            for (name, value) in extra.to_map() {
                id_map.entry(name).or_insert(value);
            }
            crate::jose::Claims::new(id_map.clone())
        } else {
            claims
        };
        let access_claims = discovered
            .verifier
            .access_token(&access_token)
            .await
            .map_err(CallbackError::of_access_token)?;
        crate::jose::dpop::check_binding(access_claims.as_ref(), dpop.as_ref())
            .map_err(CallbackError::AccessToken)?;
        let access = crate::provider::identity::access_for(config, &id_map, access_claims.as_ref());
        if let Some(asked) = &pending.organization {
            let auth0 = config.provider_kind == crate::ProviderKind::Auth0;
            check_organization(asked, &access, &id_map, auth0)?;
        }

        Ok(AuthSession {
            claims,
            id_token: IdToken::new(id_token.secret()),
            access_token: AccessToken::new(access_token),
            refresh_token: response
                .refresh_token()
                .map(|r| RefreshToken::new(r.secret().clone())),
            expires_at: response
                .expires_in()
                .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
            authenticated_at: now,
            scope: granted_scope(&response),
            last_seen: Some(now),
            refresh_expires_at: response.extra_fields().refresh_expires_at(now),
            access,
            provider: config.id.clone(),
            dpop_key: dpop,
            handle: None,
            app: None,
        })
    }

    /// A refresh at an OpenID provider's token endpoint, and the checks of what it
    /// gave.
    pub(crate) async fn oidc_refresh(
        &self,
        provider: &ProviderState,
        discovered: &Discovered,
        session: &AuthSession,
        refresh_token: &RefreshToken,
    ) -> Result<Refreshed, RefreshError> {
        let inner = &self.0;
        let rt = OAuthRefreshToken::new(refresh_token.secret().to_string());
        tracing::debug!(sub = %session.claims.sub(), "refreshing tokens");
        let dpop = session.dpop_key.as_ref();
        let response = discovered
            .token_request(&provider.http, dpop, |fields, transport| {
                let mut exchange = discovered.oauth.exchange_refresh_token(&rt);
                for (name, value) in fields {
                    exchange = exchange.add_extra_param(name, value);
                }
                async move { exchange.request_async(&transport).await }
            })
            .await
            .map_err(|e| match map_token_error(e) {
                TokenExchangeError::Refused { error, .. } => RefreshError::Refused(error),
                other @ (TokenExchangeError::Unreachable(_)
                | TokenExchangeError::Status(_)
                | TokenExchangeError::NotDiscovered
                | TokenExchangeError::InvalidResponse(_)) => {
                    RefreshError::Unavailable(Outage::TokenEndpoint(other))
                }
            })?;
        // A token of another type is unusable, and the provider has already spent the
        // old refresh token: like other invalid refreshed tokens, the session is over.
        crate::provider::token::check_token_type(&response, dpop.is_some()).map_err(|e| {
            tracing::warn!(error = %e, "refreshed tokens of another type");
            RefreshError::InvalidTokens(TokenError::UnexpectedType)
        })?;
        let now = inner.config.clock.now_secs();
        let id_token = match response.extra_fields().id_token.clone() {
            Some(raw) => {
                let claims = discovered
                    .verifier
                    .id_token(
                        raw.secret(),
                        IdTokenCheck::Refresh {
                            previous: &session.claims,
                        },
                        crate::jose::jwks::TokenSource::Provider,
                    )
                    .await
                    .map_err(RefreshError::from_token_error)?;
                Some((raw, claims))
            }
            None => None,
        };
        let access_token = response.access_token().secret().clone();
        let access_claims = discovered
            .verifier
            .access_token(&access_token)
            .await
            .map_err(RefreshError::from_token_error)?;
        crate::jose::dpop::check_binding(access_claims.as_ref(), dpop)
            .map_err(RefreshError::InvalidTokens)?;
        let id_claims = id_token
            .as_ref()
            .map_or(&session.claims, |(_, claims)| claims)
            .to_map();
        let mut access = crate::provider::identity::access_for(
            &provider.config,
            &id_claims,
            access_claims.as_ref(),
        );
        // A refreshed ID token may leave out auth_time and acr: the sign-in's stand.
        access.auth_time = access.auth_time.or(session.access.auth_time);
        access.acr = access.acr.or_else(|| session.access.acr.clone());
        tracing::info!(sub = %session.claims.sub(), "tokens refreshed");
        Ok(Refreshed {
            access_token: AccessToken::new(access_token),
            refresh_token: response
                .refresh_token()
                .map(|r| RefreshToken::new(r.secret().clone())),
            id_token,
            expires_at: response
                .expires_in()
                .map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
            refresh_expires_at: response.extra_fields().refresh_expires_at(now),
            scope: granted_scope(&response),
            access: Some(access),
        })
    }
}

/// The end-session URL (RP-Initiated Logout 1.0 §2): `id_token_hint` when there is a
/// session, the client id, where to come back, and a fresh `state`.
pub(crate) fn end_session_url(
    config: &ProviderConfig,
    end: &Url,
    session: Option<&AuthSession>,
    post: &Url,
) -> Url {
    let mut url = end.clone();
    {
        let mut q = url.query_pairs_mut();
        if let Some(s) = session {
            q.append_pair("id_token_hint", s.id_token.secret());
        }
        q.append_pair("client_id", &config.client_id)
            .append_pair("post_logout_redirect_uri", post.as_str())
            .append_pair("state", oauth2::CsrfToken::new_random().secret());
    }
    url
}

impl crate::ProviderConfig {
    /// The Google hosted domain the app pins (its default `domain_hint`, or an `hd`
    /// extra), for the Google provider kind.
    pub(crate) fn pinned_hosted_domain(&self) -> Option<&str> {
        let config = self;
        if config.provider_kind != crate::ProviderKind::Google {
            return None;
        }
        let options = &config.default_login;
        options
            .extra
            .iter()
            .find(|(name, _)| name == "hd")
            .map(|(_, v)| v.as_str())
            .or(options.domain_hint.as_deref())
    }
}
