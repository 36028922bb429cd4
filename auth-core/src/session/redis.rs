//! Redis as the engine shared by every instance (feature `redis`): session records
//! (through `tower-sessions-redis-store`), back-channel logouts, and the refresh lock
//! and result that make a refresh single-flight across instances.
//!
//! Keys: session records under their bare session id (the store crate's layout);
//! `auth:logout:<sha256>` for recorded logouts (sealed when a key is configured) and
//! `auth:logout:jti:<sha256>` for the logout tokens seen; `auth:refresh:{<sha256>}:lock`
//! and `auth:refresh:{<sha256>}:done` for refreshes, where the hash is of the refresh
//! token: the two share a hash tag, so the script that publishes a result and releases
//! the lock touches one cluster slot.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{
    Builder, ClientLike, Config, Error as RedisError, ErrorKind, Expiration, KeysInterface,
    LuaInterface, Pool, ReconnectPolicy, SetOptions,
};
use sha2::{Digest, Sha256};
use tower_sessions_core::session::{Id, Record};

use crate::session::AuthSession;
use crate::session::Refreshed;
use crate::session::logouts::{LogoutKind, LogoutRegistry};
use crate::session::seal::Sealer;
use crate::session::shared::{
    Answer, CacheTicket, Cached, IndexEntry, Once, SharedState, SharedStateError,
};

/// Connections kept to Redis.
const POOL_SIZE: usize = 4;

/// The shared state in Redis, plus the store for session records.
#[derive(Clone, Debug)]
pub(crate) struct RedisShared {
    pool: Pool,
    /// A Redis Cluster: commands on several keys must stay within one slot.
    clustered: bool,
    /// The fast path: checked sessions kept in memory (when Redis stores sessions).
    cache: Option<Arc<crate::session::redis_cache::SessionCache>>,
}

/// Why the Redis client could not be set up: what was being done, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
struct SetupError {
    context: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Maps a setup failure to the error `Auth::discover` returns, with `context`.
fn setup<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    context: impl Into<String>,
) -> impl FnOnce(E) -> SharedStateError {
    let context = context.into();
    move |e| {
        SharedStateError::new(SetupError {
            context,
            source: e.into(),
        })
    }
}

/// The TLS settings of a `rediss` URL: the server's certificate must chain to the CA
/// certificates of `ca_file` (PEM) when given, else to the system's roots.
fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<fred::types::config::TlsConfig, SharedStateError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect())
                .map_err(setup(format!("REDIS_CA_FILE {}", path.display())))?;
            if certs.is_empty() {
                let context = format!("REDIS_CA_FILE {}", path.display());
                return Err(setup(context)("no certificate"));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(setup(format!("REDIS_CA_FILE {}", path.display())))?;
            }
        }
        None => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            return fred::types::config::TlsConnector::default_rustls()
                .map(Into::into)
                .map_err(setup("the system's root certificates"));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup("TLS settings"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(fred::types::config::TlsConnector::from(config).into())
}

fn hashed(prefix: &str, value: &str) -> String {
    format!("{prefix}{}", hex::encode(Sha256::digest(value.as_bytes())))
}

/// The lock and result keys of a refresh token's refresh (one hash tag).
fn refresh_keys(refresh_token: &str) -> (String, String) {
    let tag = hex::encode(Sha256::digest(refresh_token.as_bytes()));
    (
        format!("auth:refresh:{{{tag}}}:lock"),
        format!("auth:refresh:{{{tag}}}:done"),
    )
}

/// Deletes the lock (KEYS[1]) only if it still holds the owner token (ARGV[1]).
const RELEASE_LOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) end return 0";

/// Publishes the result (KEYS[2] = ARGV[2] for ARGV[3] ms) and releases the lock
/// (KEYS[1]) only if the lock still holds the owner token (ARGV[1]): a holder whose
/// lock expired publishes nothing.
const PUBLISH_AND_RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) redis.call('DEL', KEYS[1]) \
    return 1 end return 0";

/// The string value of KEYS[1], or nil: nil too for a value of another type (never one
/// of ours), which a plain `GET` would answer with an error.
const READ_STRING: &str = "if redis.call('TYPE', KEYS[1]).ok == 'string' then \
    return redis.call('GET', KEYS[1]) end return false";

/// Sets KEYS[1] to ARGV[2] for ARGV[3] s only if it still holds what was read (with
/// `READ_STRING`): ARGV[1] is `-` for no string value, or `=` and the value.
const REPLACE_IF_UNCHANGED: &str = "local v = false \
    if redis.call('TYPE', KEYS[1]).ok == 'string' then v = redis.call('GET', KEYS[1]) end \
    if (v == false and ARGV[1] == '-') or (v ~= false and ARGV[1] == '=' .. v) then \
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end return 0";

/// How many times a logout marker's compare-and-set is tried against concurrent writes.
const LOGOUT_WRITE_ATTEMPTS: usize = 8;

/// A logout marker's time and kind, from its value under the Redis key `name`. One that
/// does not open with the key (forged, or written by an app with another key) or is not
/// text counts as absent.
fn open_marker(value: &[u8], name: &str, sealer: Option<&Sealer>) -> Option<(i64, LogoutKind)> {
    let plain = match sealer {
        Some(s) => {
            let opened = std::str::from_utf8(value)
                .ok()
                .and_then(|v| s.open(v, name.as_bytes()));
            opened.or_else(|| {
                tracing::warn!("a logout marker in Redis is not authentic: ignored");
                None
            })?
        }
        None => value.to_vec(),
    };
    LogoutKind::parse_marker(std::str::from_utf8(&plain).ok()?)
}

impl RedisShared {
    /// Connects (in the background: the app starts even while Redis is down, and
    /// every command is bounded by `command_timeout`).
    pub(crate) async fn connect(
        url: &str,
        command_timeout: Duration,
        ca_file: Option<&std::path::Path>,
        cache_entries: Option<usize>,
    ) -> Result<Self, SharedStateError> {
        // fred's own TLS setup uses the process's default rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = Config::from_url(url).map_err(setup("REDIS_URL"))?;
        if url.starts_with("rediss") {
            config.tls = Some(tls_config(ca_file)?);
        }
        // Redis down at start is an outage like any other: the first connection is
        // retried as a lost one is (fred gives up on it by default).
        config.fail_fast = false;
        let clustered = config.server.is_clustered();
        let subscriber_config = config.clone();
        let pool = Builder::from_config(config)
            .with_performance_config(|p| p.default_command_timeout = command_timeout)
            .with_connection_config(|c| {
                c.connection_timeout = command_timeout;
                c.internal_command_timeout = command_timeout;
                // A redirection (MOVED or ASK after a Cluster failover) or a reconnection
                // takes another attempt; the command timeout still bounds the whole.
                c.max_command_attempts = 3;
            })
            .set_policy(ReconnectPolicy::new_constant(0, 250))
            .build_pool(POOL_SIZE)
            .map_err(setup("the connection pool"))?;
        let _tasks = pool.connect();
        match tokio::time::timeout(command_timeout, pool.wait_for_connect()).await {
            Ok(Ok(())) => tracing::info!("connected to Redis"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis is not reachable yet; sessions answer 503 until it is");
            }
            Err(_) => {
                tracing::warn!("Redis is not reachable yet; sessions answer 503 until it is");
            }
        }
        let cache = match cache_entries {
            Some(max) => Some(crate::session::redis_cache::start(subscriber_config, max)?),
            None => None,
        };
        Ok(Self {
            pool,
            clustered,
            cache,
        })
    }

    /// Stores `record` again if it is still there (`SET .. XX`, in the layout of
    /// `tower-sessions-redis-store`): whether it was (a record deleted meanwhile, by a
    /// sign-out on any instance, is not brought back).
    async fn save_existing(&self, record: &Record) -> Result<bool, RedisError> {
        let value = rmp_serde::to_vec(record)
            .map_err(|e| RedisError::new(ErrorKind::Unknown, e.to_string()))?;
        let expire = Expiration::EXAT(record.expiry_date.unix_timestamp());
        let set: Option<String> = self
            .pool
            .set(
                record.id.to_string(),
                value.as_slice(),
                Some(expire),
                Some(SetOptions::XX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// The session store on this connection pool.
    fn store(&self) -> tower_sessions_redis_store::RedisStore<Pool> {
        tower_sessions_redis_store::RedisStore::new(self.pool.clone())
    }

    /// Records a back-channel logout (`key` is `sid:..`, `sub:..` or `subnosid:..`) at
    /// `at`, kept for `ttl` (the longest session lifetime). With a key configured the
    /// marker is sealed (authenticated under its Redis key name), so a marker written
    /// into Redis by anyone without the key has no effect.
    ///
    /// The later of two logouts of a key wins, whatever order they arrive in (a
    /// provider's retry of an older logout token must not lower the cut-off a newer one
    /// set): the marker is read, and replaced only if it is earlier (or as early, of
    /// another kind), by a compare-and-set that a concurrent write makes start again. A
    /// marker that does not open, or is not a string, is replaced.
    async fn set_logout(
        &self,
        key: &str,
        at: i64,
        kind: LogoutKind,
        ttl: Duration,
        sealer: Option<&Sealer>,
    ) -> Result<(), RedisError> {
        let name = hashed("auth:logout:", key);
        let marker = kind.marker(at);
        let value = match sealer {
            Some(s) => s
                .seal(marker.as_bytes(), name.as_bytes())
                .map_err(|e| RedisError::new(ErrorKind::Unknown, e))?,
            None => marker,
        };
        let value = Bytes::from(value);
        let ttl = Bytes::from(ttl.as_secs().max(1).to_string());
        for _ in 0..LOGOUT_WRITE_ATTEMPTS {
            let current: Option<Bytes> = self
                .pool
                .eval(READ_STRING, vec![name.clone()], Vec::<Bytes>::new())
                .await?;
            let expected = match &current {
                Some(current) => {
                    let kept =
                        open_marker(current, &name, sealer).is_some_and(|(recorded, was)| {
                            recorded > at || (recorded == at && was == kind)
                        });
                    if kept {
                        return Ok(());
                    }
                    Bytes::from([b"=".as_slice(), current].concat())
                }
                None => Bytes::from_static(b"-"),
            };
            let written: i64 = self
                .pool
                .eval(
                    REPLACE_IF_UNCHANGED,
                    vec![name.clone()],
                    vec![expected, value.clone(), ttl.clone()],
                )
                .await?;
            if written == 1 {
                return Ok(());
            }
        }
        Err(RedisError::new(
            ErrorKind::Unknown,
            "a logout marker kept changing under its write",
        ))
    }

    /// The logouts recorded for `keys` (time and kind), in order. A marker that does
    /// not open with the key (forged, or written by an app with another key) counts as
    /// absent.
    async fn get_logouts(
        &self,
        keys: &[String],
        sealer: Option<&Sealer>,
    ) -> Result<Vec<Option<(i64, LogoutKind)>>, RedisError> {
        let names: Vec<String> = keys.iter().map(|k| hashed("auth:logout:", k)).collect();
        let values: Vec<Option<Bytes>> = if names.len() == 1 {
            vec![self.pool.get(names[0].clone()).await?]
        } else if self.clustered {
            // The markers live in different slots: one GET each, sent together.
            let get = |name: &String| self.pool.get::<Option<Bytes>, _>(name.clone());
            match names.as_slice() {
                [a, b] => {
                    let (a, b) = tokio::try_join!(get(a), get(b))?;
                    vec![a, b]
                }
                [a, b, c] => {
                    let (a, b, c) = tokio::try_join!(get(a), get(b), get(c))?;
                    vec![a, b, c]
                }
                _ => {
                    let mut values = Vec::with_capacity(names.len());
                    for name in &names {
                        values.push(get(name).await?);
                    }
                    values
                }
            }
        } else {
            self.pool.mget(names.clone()).await?
        };
        Ok(names
            .iter()
            .zip(values)
            .map(|(name, value)| open_marker(&value?, name, sealer))
            .collect())
    }

    /// Adds a session to the index of `user`: a hash under `auth:index:<sha256>`, one
    /// field per session handle, its value sealed (bound to the key and the handle) when
    /// a key is configured; the hash lives `ttl` after the last addition.
    async fn add_to_index(
        &self,
        user: &str,
        handle: &str,
        entry: &IndexEntry,
        ttl: Duration,
        sealer: Option<&Sealer>,
    ) -> Result<usize, RedisError> {
        use fred::prelude::HashesInterface as _;
        let key = hashed("auth:index:", user);
        let json = serde_json::to_vec(entry).unwrap_or_default();
        let value = match sealer {
            Some(s) => s
                .seal(&json, format!("{key}|{handle}").as_bytes())
                .map_err(|e| RedisError::new(ErrorKind::Unknown, e))?,
            None => String::from_utf8(json).unwrap_or_default(),
        };
        let () = self.pool.hset(&key, (handle, value)).await?;
        let () = self
            .pool
            .expire(&key, ttl.as_secs().max(1) as i64, None)
            .await?;
        self.pool.hlen(&key).await
    }

    /// The sessions in the index of `user`; a field that does not open (forged, or
    /// another key's) is dropped.
    async fn list_index(
        &self,
        user: &str,
        sealer: Option<&Sealer>,
    ) -> Result<Vec<(String, IndexEntry)>, RedisError> {
        use fred::prelude::HashesInterface as _;
        let key = hashed("auth:index:", user);
        let fields: std::collections::HashMap<String, String> = self.pool.hgetall(&key).await?;
        let mut out = Vec::with_capacity(fields.len());
        for (handle, value) in fields {
            let plain = match sealer {
                Some(s) => s.open(&value, format!("{key}|{handle}").as_bytes()),
                None => Some(value.into_bytes()),
            };
            match plain.and_then(|p| serde_json::from_slice::<IndexEntry>(&p).ok()) {
                Some(entry) => out.push((handle, entry)),
                None => {
                    tracing::warn!("an entry of a session index does not open: dropped");
                    let _: i64 = self.pool.hdel(&key, handle).await?;
                }
            }
        }
        Ok(out)
    }

    /// Sets `prefix` + hash of `key` until `until` if it is not set: whether it was not.
    async fn set_once(&self, prefix: &str, key: &str, until: i64) -> Result<bool, RedisError> {
        let set: Option<String> = self
            .pool
            .set(
                hashed(prefix, key),
                "1",
                Some(Expiration::EXAT(until)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Takes the refresh lock of `refresh_token` for `ttl` as `owner` (a random token
    /// of the holder's); false when another instance holds it.
    async fn set_refresh_lock(
        &self,
        refresh_token: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        let (lock, _) = refresh_keys(refresh_token);
        let set: Option<String> = self
            .pool
            .set(
                lock,
                owner,
                Some(Expiration::PX(ttl.as_millis() as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Releases the refresh lock of `refresh_token` if `owner` still holds it (compare
    /// and delete); true when it did.
    async fn del_refresh_lock(&self, refresh_token: &str, owner: &str) -> Result<bool, RedisError> {
        let (lock, _) = refresh_keys(refresh_token);
        let deleted: i64 = self
            .pool
            .eval(RELEASE_LOCK, vec![lock], vec![owner])
            .await?;
        Ok(deleted == 1)
    }

    /// Publishes a refresh's result for the other instances, for `ttl` (sealed like
    /// session records when they are), and releases the lock, both only if `owner`
    /// still holds the lock; false (nothing published) when it lost it.
    async fn eval_publish_refresh(
        &self,
        refresh_token: &str,
        owner: &str,
        result: &Refreshed,
        ttl: Duration,
        sealer: Option<&Sealer>,
    ) -> Result<bool, RedisError> {
        let (lock, done) = refresh_keys(refresh_token);
        let json = serde_json::to_vec(result).unwrap_or_default();
        let value = match sealer {
            Some(s) => s
                .seal(&json, done.as_bytes())
                .map_err(|e| RedisError::new(ErrorKind::Unknown, e))?,
            None => String::from_utf8(json).unwrap_or_default(),
        };
        let ttl_ms = ttl.as_millis().to_string();
        let published: i64 = self
            .pool
            .eval(
                PUBLISH_AND_RELEASE,
                vec![lock, done],
                vec![owner.to_owned(), value, ttl_ms],
            )
            .await?;
        Ok(published == 1)
    }

    /// The result another instance published for `refresh_token`, if any.
    async fn get_published_refresh(
        &self,
        refresh_token: &str,
        sealer: Option<&Sealer>,
    ) -> Result<Option<Result<Refreshed, ()>>, RedisError> {
        let (_, key) = refresh_keys(refresh_token);
        let value: Option<String> = self.pool.get(key.as_str()).await?;
        Ok(value.map(|v| {
            let plain = match sealer {
                Some(s) => s.open(&v, key.as_bytes()).ok_or(())?,
                None => v.into_bytes(),
            };
            serde_json::from_slice(&plain).map_err(|_| ())
        }))
    }
}

/// A Redis command's answer as the shared state gives it.
fn answer<'a, T>(
    command: impl Future<Output = Result<T, RedisError>> + Send + 'a,
) -> Answer<'a, T> {
    Box::pin(async move { command.await.map_err(SharedStateError::new) })
}

impl SharedState for RedisShared {
    fn session_store(&self) -> Option<crate::session::store::SharedStore> {
        Some(crate::session::store::SharedStore::new(self.store()))
    }

    fn ping(&self) -> Option<Answer<'_, ()>> {
        use fred::prelude::ClientLike as _;
        Some(answer(async move {
            let _: String = self.pool.next().ping(None).await?;
            Ok(())
        }))
    }

    fn save_record<'a>(&'a self, record: &'a Record) -> Answer<'a, bool> {
        answer(self.save_existing(record))
    }

    fn cached_session(&self, id: &Id) -> Cached {
        let Some(cache) = &self.cache else {
            return Cached::Off;
        };
        match cache.get(id) {
            Ok((session, read_at)) => Cached::Hit(session, read_at),
            Err(generation) => Cached::Miss(CacheTicket {
                id: *id,
                generation,
            }),
        }
    }

    fn fast_path(&self) -> Option<crate::session::shared::FastPathStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    fn keep_checked(&self, ticket: CacheTicket, store_key: Id, session: &Arc<AuthSession>) {
        if let Some(cache) = &self.cache {
            cache.insert(ticket.id, store_key, Arc::clone(session), ticket.generation);
        }
    }

    fn session_changed<'a>(
        &'a self,
        store_key: &'a Id,
        stored: Option<(&'a Id, &'a Arc<AuthSession>)>,
        read_at: Option<u64>,
        announce: bool,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let Some(cache) = &self.cache else {
                return;
            };
            cache.count_write();
            match stored {
                Some((id, s)) => cache.wrote(id, store_key, Arc::clone(s), read_at),
                None => {
                    cache.invalidate(store_key);
                }
            }
            if announce {
                cache.announce_change(store_key).await;
            }
        })
    }

    fn index_add<'a>(
        &'a self,
        user: &'a str,
        handle: &'a str,
        entry: &'a IndexEntry,
        ttl: Duration,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, usize> {
        answer(self.add_to_index(user, handle, entry, ttl, sealer))
    }

    fn index_list<'a>(
        &'a self,
        user: &'a str,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, Vec<(String, IndexEntry)>> {
        answer(self.list_index(user, sealer))
    }

    fn index_remove<'a>(&'a self, user: &'a str, handle: &'a str) -> Answer<'a, ()> {
        use fred::prelude::HashesInterface as _;
        answer(async move {
            let _: i64 = self.pool.hdel(hashed("auth:index:", user), handle).await?;
            Ok(())
        })
    }

    fn first_use<'a>(&'a self, what: Once, key: &'a str, until: i64) -> Answer<'a, bool> {
        answer(self.set_once(once_prefix(what), key, until))
    }

    fn forget_use<'a>(&'a self, what: Once, key: &'a str) -> Answer<'a, ()> {
        answer(self.pool.del::<(), _>(hashed(once_prefix(what), key)))
    }

    fn record_logout<'a>(
        &'a self,
        key: &'a str,
        at: i64,
        kind: LogoutKind,
        ttl: Duration,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, ()> {
        answer(self.set_logout(key, at, kind, ttl, sealer))
    }

    fn logouts_recorded(&self) -> Answer<'_, ()> {
        answer(async move {
            let Some(cache) = &self.cache else {
                return Ok(());
            };
            cache.flush();
            if cache.announce_flush().await {
                Ok(())
            } else {
                // Sent later: the provider's retry is answered then.
                Err(RedisError::new(
                    ErrorKind::Timeout,
                    "the logout could not be announced to the other instances in time",
                ))
            }
        })
    }

    fn logged_out<'a>(
        &'a self,
        session: &'a AuthSession,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, Option<LogoutKind>> {
        answer(async move {
            let (iss, sub) = (session.claims.iss(), session.claims.sub());
            let mut keys = vec![
                LogoutRegistry::key_sub(iss, sub),
                LogoutRegistry::key_sub_without_sid(iss, sub),
            ];
            let sid = session
                .claims
                .sid()
                .map(|sid| LogoutRegistry::key_sid(iss, sid));
            let by_sid = sid.is_some().then_some(keys.len());
            keys.extend(sid);
            let by_provider = session.provider.as_deref().map(|id| {
                keys.push(LogoutRegistry::key_provider(id));
                keys.len() - 1
            });
            let found = self.get_logouts(&keys, sealer).await?;
            let at = |i: Option<usize>| i.and_then(|i| found.get(i).copied().flatten());
            Ok(
                LogoutRegistry::ended_by(session, at(Some(0)), at(Some(1)), at(by_sid))
                    .or_else(|| LogoutRegistry::ended_by_removal(session, at(by_provider))),
            )
        })
    }

    fn lock_refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> Answer<'a, bool> {
        answer(self.set_refresh_lock(refresh_token, owner, ttl))
    }

    fn unlock_refresh<'a>(&'a self, refresh_token: &'a str, owner: &'a str) -> Answer<'a, bool> {
        answer(self.del_refresh_lock(refresh_token, owner))
    }

    fn publish_refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        owner: &'a str,
        result: &'a Refreshed,
        ttl: Duration,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, bool> {
        answer(self.eval_publish_refresh(refresh_token, owner, result, ttl, sealer))
    }

    fn published_refresh<'a>(
        &'a self,
        refresh_token: &'a str,
        sealer: Option<&'a Sealer>,
    ) -> Answer<'a, Option<Result<Refreshed, ()>>> {
        answer(self.get_published_refresh(refresh_token, sealer))
    }
}

/// The key prefix of what is used once.
fn once_prefix(what: Once) -> &'static str {
    match what {
        Once::LogoutToken => "auth:logout:jti:",
        Once::DpopProof => "auth:dpop:jti:",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refreshed() -> Refreshed {
        serde_json::from_value(serde_json::json!({
            "access_token": "at", "refresh_token": "rt2", "id_token": null,
            "expires_at": 1, "scope": null
        }))
        .expect("a refresh result")
    }

    /// A `REDIS_CA_FILE` with no certificate in it stops the start (rather than
    /// trusting the system's roots instead), naming the file, with the cause kept.
    #[tokio::test]
    async fn redis_ca_file_without_a_certificate_refused_at_start() {
        let dir = std::env::temp_dir().join(format!("auth-core-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("empty.pem");
        std::fs::write(&ca, "not a certificate\n").expect("write");
        let url = |p: &str| url::Url::parse(&format!("http://127.0.0.1:1{p}")).expect("url");
        let config = crate::AuthConfig::builder("http://127.0.0.1:1", "c", "http://127.0.0.1:3000")
            .with_endpoints(crate::ProviderEndpoints::new(
                url("/authorize"),
                url("/token"),
                url("/jwks"),
            ))
            .with_redis_url("rediss://127.0.0.1:1")
            .with_redis_ca_file(&ca)
            .with_app_secret_hex(&"ab".repeat(32))
            .build()
            .expect("config");
        match crate::Auth::discover(config).await {
            Err(e @ crate::DiscoveryError::Redis(_)) => {
                let text = e.to_string();
                assert!(
                    text.contains("empty.pem") && text.contains("no certificate"),
                    "{text}"
                );
                assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
            }
            other => panic!("expected DiscoveryError::Redis, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Two logouts of one key arriving out of order (a provider's retry of an older
    /// logout token after a newer one): the later cut-off stays, sealed or not; a marker
    /// that does not open with the key is replaced.
    #[tokio::test]
    async fn rp_older_logout_does_not_lower_a_later_cut_off() {
        let server = provider_harness::RedisServer::start();
        let r = RedisShared::connect(&server.url(), Duration::from_secs(2), None, None)
            .await
            .expect("redis");
        let sealer = Sealer::derive(&[7u8; 32]);
        let ttl = Duration::from_secs(60);
        for (key, sealer) in [("sub:plain", None), ("sub:sealed", Some(&sealer))] {
            let read = || async { r.get_logouts(&[key.to_owned()], sealer).await.expect("get")[0] };
            let record = |at, kind| r.set_logout(key, at, kind, ttl, sealer);
            record(200, LogoutKind::Backchannel).await.expect("set");
            record(100, LogoutKind::Frontchannel).await.expect("set");
            assert_eq!(read().await, Some((200, LogoutKind::Backchannel)), "{key}");
            record(300, LogoutKind::Frontchannel).await.expect("set");
            assert_eq!(read().await, Some((300, LogoutKind::Frontchannel)), "{key}");
            // The same logout again is not written again (sealed, a rewrite would show
            // as a new nonce; concurrent ones would contend for nothing).
            let raw = || async {
                let name = hashed("auth:logout:", key);
                r.pool.get::<Option<Bytes>, _>(name).await.expect("raw")
            };
            let before = raw().await;
            record(300, LogoutKind::Frontchannel).await.expect("set");
            assert_eq!(raw().await, before, "{key}: not rewritten");
        }
        // A marker written by someone without the key (it does not open), one that is
        // not text, and a value of another type are replaced.
        for (key, plant) in [
            ("sub:forged", "text"),
            ("sub:bytes", "bytes"),
            ("sub:hash", "hash"),
        ] {
            let name = hashed("auth:logout:", key);
            let planted: Result<(), _> = match plant {
                "text" => {
                    r.pool
                        .set(name.as_str(), "9999999999", None, None, false)
                        .await
                }
                "bytes" => {
                    let bytes = Bytes::from_static(b"\xff\xfe 9999999999");
                    r.pool.set(name.as_str(), bytes, None, None, false).await
                }
                _ => {
                    use fred::prelude::HashesInterface as _;
                    r.pool.hset(name.as_str(), ("at", "9999999999")).await
                }
            };
            planted.expect("plant");
            r.set_logout(key, 100, LogoutKind::Backchannel, ttl, Some(&sealer))
                .await
                .expect("set");
            assert_eq!(
                r.get_logouts(&[key.to_owned()], Some(&sealer))
                    .await
                    .expect("get")[0],
                Some((100, LogoutKind::Backchannel)),
                "{plant}"
            );
        }
        // The compare-and-set refuses a write when the marker changed since its read.
        let name = hashed("auth:logout:", "sub:plain");
        let stale: i64 = r
            .pool
            .eval(
                REPLACE_IF_UNCHANGED,
                vec![name],
                vec!["=100".to_owned(), "50".to_owned(), "60".to_owned()],
            )
            .await
            .expect("eval");
        assert_eq!(stale, 0, "the marker is 300 now, not 100");
        assert_eq!(
            r.get_logouts(&["sub:plain".to_owned()], None)
                .await
                .expect("get")[0],
            Some((300, LogoutKind::Frontchannel))
        );
    }

    #[tokio::test]
    async fn rp_refresh_lock_is_released_only_by_its_owner() {
        let server = provider_harness::RedisServer::start();
        let r = RedisShared::connect(&server.url(), Duration::from_secs(2), None, None)
            .await
            .expect("redis");
        let ttl = Duration::from_secs(30);
        assert!(r.lock_refresh("rt", "owner-a", ttl).await.expect("lock"));
        assert!(!r.lock_refresh("rt", "owner-b", ttl).await.expect("lock"));
        assert!(
            !r.unlock_refresh("rt", "owner-b").await.expect("unlock"),
            "not b's"
        );
        assert!(
            !r.lock_refresh("rt", "owner-b", ttl).await.expect("lock"),
            "still a's"
        );
        assert!(r.unlock_refresh("rt", "owner-a").await.expect("unlock"));
        assert!(r.lock_refresh("rt", "owner-b", ttl).await.expect("lock"));
    }

    #[tokio::test]
    async fn rp_refresh_holder_that_lost_its_lock_does_not_publish() {
        let server = provider_harness::RedisServer::start();
        let r = RedisShared::connect(&server.url(), Duration::from_secs(2), None, None)
            .await
            .expect("redis");
        // a's lock expires under it (a stalled holder); b takes the lock.
        assert!(
            r.lock_refresh("rt", "owner-a", Duration::from_millis(100))
                .await
                .expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ttl = Duration::from_secs(30);
        assert!(r.lock_refresh("rt", "owner-b", ttl).await.expect("lock"));
        let published = r
            .publish_refresh("rt", "owner-a", &refreshed(), ttl, None)
            .await;
        assert!(
            !published.expect("script"),
            "a lost its lock: nothing published"
        );
        assert!(
            r.published_refresh("rt", None)
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            !r.lock_refresh("rt", "owner-c", ttl).await.expect("lock"),
            "b keeps it"
        );
        // b publishes and releases in one step.
        assert!(
            r.publish_refresh("rt", "owner-b", &refreshed(), ttl, None)
                .await
                .expect("script")
        );
        assert!(matches!(
            r.published_refresh("rt", None).await.expect("get"),
            Some(Ok(_))
        ));
        assert!(
            r.lock_refresh("rt", "owner-c", ttl).await.expect("lock"),
            "released"
        );
    }
}
