//! The app's own store of providers (its database, where a B2B app keeps its customers'
//! SSO settings) as a source the library reads: listed at start and every few seconds
//! on every instance (new ones discovered and added, changed ones replaced, ones gone
//! removed with their sessions), and asked for an id no instance serves yet the moment
//! a login, callback or session names it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::auth::{Auth, Inner};
use crate::provider::config::{ProviderConfig, ProviderConfigBuilder};
use crate::provider::state::ProviderState;

/// What a [`ProviderSource`] fails with (its database is down, say).
pub type ProviderSourceError = Box<dyn std::error::Error + Send + Sync>;

/// A [`ProviderSource`]'s answer.
pub type SourceFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProviderSourceError>> + Send + 'a>>;

/// How often every instance lists its [`ProviderSource`] ([`Auth::use_provider_source`]):
/// a provider removed there stops within this time (and the few seconds of a slow
/// listing) on every instance; one added serves at once where it is asked for.
pub const PROVIDER_SOURCE_INTERVAL: Duration = Duration::from_secs(2);

/// The ids asked for and not found that are remembered until the next listing: a login
/// for an id no source knows costs the source one lookup per listing, and nothing else.
const MAX_MISSED_IDS: usize = 4096;

/// Providers the app keeps itself, which every instance serves beside the configuration's
/// ([`Auth::use_provider_source`]). Each is built as the configuration's are
/// ([`crate::ProviderConfig::builder`], with an id); a secret the app keeps sealed opens
/// with [`Auth::open_app_secret`], which is why `auth` is handed in.
pub trait ProviderSource: Send + Sync + 'static {
    /// Every provider the source holds now.
    fn providers<'a>(&'a self, auth: &'a Auth) -> SourceFuture<'a, Vec<ProviderConfigBuilder>>;

    /// The provider named `id`, if the source holds it: asked when a request names an
    /// id this instance does not serve (a provider another instance has just added).
    /// The default lists them all; a database looks up one row.
    fn provider<'a>(
        &'a self,
        auth: &'a Auth,
        id: &'a str,
    ) -> SourceFuture<'a, Option<ProviderConfigBuilder>> {
        Box::pin(async move {
            Ok(self
                .providers(auth)
                .await?
                .into_iter()
                .find(|p| p.id.as_deref() == Some(id)))
        })
    }
}

/// What one listing of the source changed on this instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderSync {
    /// Providers the source holds that this instance did not serve.
    pub added: usize,
    /// Providers whose settings changed there (a rotated secret, a tenant let in, a
    /// domain): discovered again and swapped in; their sessions go on.
    pub replaced: usize,
    /// Providers gone from the source: stopped, their sessions ended.
    pub removed: usize,
    /// Providers the source holds that cannot serve: invalid settings, an id or a
    /// domain of another provider, or (when replacing) a failed discovery; retried at
    /// the next listing. A new provider whose discovery fails is added and retried in
    /// the background, as the configuration's are.
    pub refused: usize,
}

/// The source of an [`Auth`], once [`Auth::use_provider_source`] set it.
pub(crate) struct SourceSlot {
    source: Box<dyn ProviderSource>,
    /// The ids the source gave (listed or looked up) that this instance serves: those
    /// a listing no longer has are removed. Providers added through
    /// [`Auth::add_provider`] alone are not the source's to remove.
    from_source: std::sync::Mutex<HashSet<String>>,
    /// Ids looked up and not found since the last listing; held across a lookup, so
    /// lookups are one at a time.
    missed: tokio::sync::Mutex<HashSet<String>>,
    /// One listing at a time.
    listing: tokio::sync::Mutex<()>,
}

impl SourceSlot {
    fn served(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.from_source.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The source's settings of a provider as they bear on what it serves: every setting
/// (secrets and keys only by digest), so that any change is seen.
fn fingerprint(config: &ProviderConfig) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(format!("{config:?}").as_bytes());
    hash.update([0]);
    if let Some(secret) = &config.client_secret {
        hash.update(Sha256::digest(secret.secret().as_bytes()));
    }
    for key in &config.client_keys {
        hash.update(key.public_jwk().to_string().as_bytes());
    }
    hash.finalize().into()
}

impl Auth {
    /// Serves the providers of `source` (the app's own store) beside the
    /// configuration's, on this instance: lists it now (each new provider is
    /// discovered before this returns), then every [`PROVIDER_SOURCE_INTERVAL`] in the
    /// background for as long as the app runs. A listing adds what is new, replaces
    /// what changed (sessions go on) and removes what is gone (its sessions end on
    /// every instance, as [`Auth::remove_provider`]'s do). A login, callback or
    /// session naming an id this instance does not serve asks the source first, so a
    /// provider another instance has just added serves here at once.
    ///
    /// `Err` when the first listing fails (a source can be set once; the background
    /// listings go on either way, and the failure is logged each time).
    pub async fn use_provider_source(
        &self,
        source: impl ProviderSource,
    ) -> Result<ProviderSync, ProviderSourceError> {
        self.use_provider_source_every(source, PROVIDER_SOURCE_INTERVAL)
            .await
    }

    /// As [`Auth::use_provider_source`], listing every `interval` (a test's own
    /// pace; [`Auth::sync_provider_source`] lists at once).
    pub async fn use_provider_source_every(
        &self,
        source: impl ProviderSource,
        interval: Duration,
    ) -> Result<ProviderSync, ProviderSourceError> {
        let slot = SourceSlot {
            source: Box::new(source),
            from_source: std::sync::Mutex::default(),
            missed: tokio::sync::Mutex::default(),
            listing: tokio::sync::Mutex::new(()),
        };
        if self.0.source.set(slot).is_err() {
            return Err("this app has a provider source already".into());
        }
        let first = self.sync_provider_source().await;
        list_in_background(Arc::downgrade(&self.0), interval);
        first
    }

    /// Lists the source now and brings this instance in line with it (what the
    /// background listing does every [`PROVIDER_SOURCE_INTERVAL`]). Nothing changes
    /// when the listing fails. Without a source, nothing to do.
    pub async fn sync_provider_source(&self) -> Result<ProviderSync, ProviderSourceError> {
        let Some(slot) = self.0.source.get() else {
            return Ok(ProviderSync::default());
        };
        let _one_at_a_time = slot.listing.lock().await;
        // What the source had given before this listing: only those can be gone (one
        // a lookup adds while this listing runs is newer than it).
        let before: HashSet<String> = slot.served().clone();
        let listed = slot.source.providers(self).await?;
        slot.missed.lock().await.clear();
        let mut sync = ProviderSync::default();
        let mut seen = HashSet::new();
        for builder in listed {
            let Some(id) = builder.id.clone() else {
                tracing::warn!("the provider source gave a provider without an id: ignored");
                sync.refused += 1;
                continue;
            };
            if !seen.insert(id.clone()) {
                tracing::warn!(provider = %id, "the provider source gave this id twice: the first is served");
                continue;
            }
            match self.serve_from_source(slot, builder).await {
                Ok(Served::Added) => sync.added += 1,
                Ok(Served::Replaced) => sync.replaced += 1,
                Ok(Served::Unchanged) => {}
                Err(e) => {
                    tracing::warn!(provider = %id, error = %e, "a provider of the source cannot serve (retried at the next listing)");
                    sync.refused += 1;
                }
            }
        }
        let gone: Vec<String> = before
            .into_iter()
            .filter(|id| !seen.contains(id) && slot.served().contains(id))
            .collect();
        for id in gone {
            slot.served().remove(&id);
            match self.remove_provider(&id).await {
                Ok(true) => sync.removed += 1,
                Ok(false) => {}
                Err(e) => {
                    // Stopped here; its sessions here end at their next request (the
                    // provider is gone), and other instances' at their own listing.
                    sync.removed += 1;
                    tracing::warn!(provider = %id, error = %e, "a removed provider's sessions could not be recorded as ended in the shared store");
                }
            }
        }
        Ok(sync)
    }

    /// The provider named `id` when this instance serves it or the source (asked now)
    /// holds it; `Ok(None)` when neither. `remember_misses`: an id the source does not
    /// hold is not asked for again until the next listing (a request's path, which
    /// anyone can make up; a stored session's provider is always asked for).
    pub(crate) async fn provider_or_source(
        &self,
        id: &str,
        remember_misses: bool,
    ) -> Result<Option<usize>, ProviderSourceError> {
        if let Some(i) = self.0.provider_index(Some(id)) {
            return Ok(Some(i));
        }
        let Some(slot) = self.0.source.get() else {
            return Ok(None);
        };
        if crate::provider::config::check_id(id).is_err() {
            return Ok(None);
        }
        let mut missed = slot.missed.lock().await;
        // Added while this one waited for the lookup before it.
        if let Some(i) = self.0.provider_index(Some(id)) {
            return Ok(Some(i));
        }
        // A path's id: one remembered as missing, or any once the memory is full (made-
        // up ids then cost nothing until the next listing clears it).
        if remember_misses && (missed.contains(id) || missed.len() >= MAX_MISSED_IDS) {
            return Ok(None);
        }
        match slot.source.provider(self, id).await? {
            Some(builder) if builder.id.as_deref() == Some(id) => {
                match self.serve_from_source(slot, builder).await {
                    Ok(_) => Ok(self.0.provider_index(Some(id))),
                    // The listing added it meanwhile.
                    Err(_) if self.0.provider_index(Some(id)).is_some() => {
                        Ok(self.0.provider_index(Some(id)))
                    }
                    Err(e) => {
                        tracing::warn!(provider = %id, error = %e, "a provider of the source cannot serve");
                        // A stored session's provider that the source holds but that
                        // cannot serve now: not ended, unavailable.
                        if remember_misses {
                            Ok(None)
                        } else {
                            Err(Box::new(e))
                        }
                    }
                }
            }
            _ => {
                if remember_misses {
                    missed.insert(id.to_owned());
                }
                Ok(None)
            }
        }
    }

    /// Serves `builder` (from the source): added when new, replaced when its settings
    /// changed, left as it is otherwise.
    async fn serve_from_source(
        &self,
        slot: &SourceSlot,
        builder: ProviderConfigBuilder,
    ) -> Result<Served, super::runtime::AddProviderError> {
        let config = self.added_config(builder)?;
        let id = config.id.clone().unwrap_or_default();
        // An added provider of that id (an id of the configuration is refused below).
        let current = self
            .0
            .provider_index(Some(&id))
            .filter(|i| *i >= self.0.providers.configured().len())
            .map(|i| self.0.provider(i));
        let served = match current {
            Some(p) if fingerprint(&p.config) == fingerprint(&config) => Served::Unchanged,
            Some(_) => {
                self.replace_provider(config).await?;
                Served::Replaced
            }
            None => {
                self.check_new(&config)?;
                let inner = &self.0;
                let state = ProviderState::new(config, &inner.http);
                let discovered = state
                    .discover(&inner.config.tokens, &inner.config.clock)
                    .await;
                let index = inner
                    .providers
                    .push_checked(state, |added| self.check_new(added))?;
                if let (Some(index), Err(e)) = (index, discovered) {
                    tracing::warn!(provider = %id, error = %e, "a provider of the source is not reachable; retried in the background");
                    crate::auth::retry_in_background(Arc::downgrade(&self.0), index);
                }
                tracing::info!(provider = %id, "provider added from the source");
                Served::Added
            }
        };
        slot.served().insert(id);
        Ok(served)
    }
}

/// What serving a provider of the source did.
enum Served {
    Added,
    Replaced,
    Unchanged,
}

/// Lists the source every `interval` until the app's `Auth` is dropped.
fn list_in_background(inner: Weak<Inner>, interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no Tokio runtime: the provider source is listed at start only");
        return;
    };
    runtime.spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(inner) = inner.upgrade() else { return };
            if let Err(e) = Auth(inner).sync_provider_source().await {
                tracing::warn!(error = %e, "the provider source could not be listed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::{Method, StatusCode};

    use super::*;
    use crate::flow::refresh::SessionStatus;
    use crate::flow::runtime::tests::{app, provider};
    use crate::session::store::SessionEnd;

    const T1: &str = "11111111-1111-1111-1111-111111111111";
    const T2: &str = "22222222-2222-2222-2222-222222222222";

    /// A source held in memory (what the app's database would hold), counting what it
    /// is asked, failing on demand.
    #[derive(Clone, Default)]
    struct Table {
        rows: Arc<Mutex<Vec<ProviderConfigBuilder>>>,
        lookups: Arc<AtomicUsize>,
        down: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Table {
        fn set(&self, rows: Vec<ProviderConfigBuilder>) {
            *self.rows.lock().expect("rows") = rows;
        }
        fn rows(&self) -> Result<Vec<ProviderConfigBuilder>, ProviderSourceError> {
            if self.down.load(Ordering::Relaxed) {
                return Err("the database is down".into());
            }
            Ok(self.rows.lock().expect("rows").clone())
        }
    }

    impl ProviderSource for Table {
        fn providers<'a>(&'a self, _: &'a Auth) -> SourceFuture<'a, Vec<ProviderConfigBuilder>> {
            Box::pin(async move { self.rows() })
        }
        fn provider<'a>(
            &'a self,
            _: &'a Auth,
            id: &'a str,
        ) -> SourceFuture<'a, Option<ProviderConfigBuilder>> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                Ok(self
                    .rows()?
                    .into_iter()
                    .find(|p| p.id.as_deref() == Some(id)))
            })
        }
    }

    async fn login(auth: &Auth, path: &str) -> http::Response<String> {
        let pattern = if path.starts_with("/auth/login/") {
            "/auth/login/{id}"
        } else {
            "/auth/login"
        };
        let route = auth.routes().into_iter().find(|r| r.path() == pattern);
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(String::new())
            .expect("request");
        auth.respond(route.expect("route").endpoint(), &request)
            .await
    }

    fn goes_to(r: &http::Response<String>, issuer: &str) -> bool {
        r.headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with(&format!("{issuer}/authorize?")))
    }

    fn session_of(provider: &str) -> crate::AuthSession {
        let mut session = crate::AuthSession::bare();
        session.provider = Some(provider.into());
        session
    }

    fn removed(status: &SessionStatus) -> bool {
        matches!(status, SessionStatus::Ended(SessionEnd::ProviderRemoved))
    }

    /// Each listing brings the instance in line with the source: a new provider serves
    /// (its route, its domain), a changed one is swapped in with its sessions going on,
    /// one gone stops and takes its sessions; a failed listing changes nothing; a
    /// provider added through `add_provider` alone is not the source's to remove.
    #[tokio::test]
    async fn a_provider_source_adds_replaces_and_removes_at_each_listing() {
        let auth = app().await;
        let table = Table::default();
        let corp = || provider("corp", "https://corp.example.com");
        table.set(vec![corp().with_domains(["corp.example"])]);
        let first = auth
            .use_provider_source_every(table.clone(), Duration::from_secs(3600))
            .await
            .expect("listed");
        assert_eq!((first.added, first.replaced, first.removed), (1, 0, 0));
        assert!(goes_to(
            &login(&auth, "/auth/login/corp").await,
            "https://corp.example.com"
        ));
        let r = login(&auth, "/auth/login?login_hint=dana%40corp.example").await;
        assert!(goes_to(&r, "https://corp.example.com"));
        auth.add_provider(provider("mine", "https://mine.example.com"))
            .await
            .expect("added here");

        let unchanged = auth.sync_provider_source().await.expect("listed");
        assert_eq!(unchanged, ProviderSync::default());
        table.set(vec![corp().with_domains(["corp.example", "corp.test"])]);
        let session = session_of("corp");
        let changed = auth.sync_provider_source().await.expect("listed");
        assert_eq!(changed.replaced, 1);
        assert!(
            !removed(&auth.check_session(&session).await),
            "sessions go on"
        );
        let r = login(&auth, "/auth/login?login_hint=dana%40corp.test").await;
        assert!(goes_to(&r, "https://corp.example.com"), "the new domain");

        table.down.store(true, Ordering::Relaxed);
        assert!(auth.sync_provider_source().await.is_err());
        assert!(goes_to(
            &login(&auth, "/auth/login/corp").await,
            "https://corp.example.com"
        ));
        table.down.store(false, Ordering::Relaxed);

        table.set(Vec::new());
        let gone = auth.sync_provider_source().await.expect("listed");
        assert_eq!(gone.removed, 1);
        let r = login(&auth, "/auth/login/corp").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(removed(&auth.check_session(&session).await));
        assert_eq!(auth.added_providers(), ["mine"], "not the source's");
    }

    /// An id this instance does not serve is asked of the source at once: a provider
    /// another instance has just added serves here before any listing, and so do its
    /// sessions. An id the source does not hold costs one lookup until the next listing
    /// and no discovery; an id that cannot be a provider's costs none. A session whose
    /// provider the source cannot be asked about is not ended (503).
    #[tokio::test]
    async fn rp_login_for_an_id_no_source_holds_refused_without_discovery() {
        let auth = app().await;
        let table = Table::default();
        auth.use_provider_source_every(table.clone(), Duration::from_secs(3600))
            .await
            .expect("listed");
        for _ in 0..3 {
            let r = login(&auth, "/auth/login/nope").await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            assert!(r.body().contains("unknown_provider"));
        }
        assert_eq!(table.lookups.load(Ordering::Relaxed), 1, "one lookup");
        assert_eq!(
            login(&auth, "/auth/login/No%21").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            table.lookups.load(Ordering::Relaxed),
            1,
            "none for a bad id"
        );
        assert_eq!(auth.0.providers.all().len(), 1, "nothing added");

        // Another instance adds `corp` (into the shared table).
        table.set(vec![provider("corp", "https://corp.example.com")]);
        assert!(goes_to(
            &login(&auth, "/auth/login/corp").await,
            "https://corp.example.com"
        ));
        table.set(vec![
            provider("corp", "https://corp.example.com"),
            provider("nope", "https://nope.example.com"),
        ]);
        assert_eq!(
            login(&auth, "/auth/login/nope").await.status(),
            StatusCode::NOT_FOUND,
            "a miss is remembered until the next listing"
        );
        // Made-up ids past the memory's 4 096 cost no lookup until the next listing.
        let asked = table.lookups.load(Ordering::Relaxed);
        for i in 0..MAX_MISSED_IDS + 10 {
            login(&auth, &format!("/auth/login/made-up-{i}")).await;
        }
        assert_eq!(
            table.lookups.load(Ordering::Relaxed) - asked,
            MAX_MISSED_IDS - 1,
            "bounded (one id was remembered already)"
        );
        let session = session_of("late");
        table.set(vec![provider("late", "https://late.example.com")]);
        assert!(
            !removed(&auth.check_session(&session).await),
            "a session asks at once"
        );
        assert!(auth.sync_provider_source().await.is_ok());
        assert!(goes_to(
            &login(&auth, "/auth/login/late").await,
            "https://late.example.com"
        ));

        table.down.store(true, Ordering::Relaxed);
        let status = auth.check_session(&session_of("other")).await;
        assert!(
            matches!(
                status,
                SessionStatus::Unavailable(crate::RefreshError::Unavailable(
                    crate::Outage::ProviderSource(_)
                ))
            ),
            "{status:?}"
        );
    }

    /// Entra ID's tenants let in may come from the source: a tenant onboarded there is
    /// let in at the next listing, without ending the provider's sessions.
    #[tokio::test]
    async fn entra_tenants_come_from_the_source() {
        let auth = app().await;
        let table = Table::default();
        let entra = |tenants: &[&str]| {
            provider(
                "entra",
                "https://login.microsoftonline.com/organizations/v2.0",
            )
            .with_provider_kind(crate::ProviderKind::EntraId)
            .with_allowed_tenants(tenants.iter().copied())
        };
        table.set(vec![entra(&[T1])]);
        auth.use_provider_source_every(table.clone(), Duration::from_secs(3600))
            .await
            .expect("listed");
        let lets_in = |tid: &str| {
            let i = auth.0.provider_index(Some("entra")).expect("served");
            auth.0
                .provider(i)
                .config
                .is_issuer(&format!("https://login.microsoftonline.com/{tid}/v2.0"))
        };
        assert!(lets_in(T1));
        assert!(!lets_in(T2));
        let session = session_of("entra");
        table.set(vec![entra(&[T1, T2])]);
        assert_eq!(
            auth.sync_provider_source().await.expect("listed").replaced,
            1
        );
        assert!(lets_in(T2), "onboarded");
        assert!(!removed(&auth.check_session(&session).await));
    }
}
