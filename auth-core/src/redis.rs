//! Redis as the engine shared by every instance (feature `redis`): session records
//! (through `tower-sessions-redis-store`), back-channel logouts, and the refresh lock
//! and result that make a refresh single-flight across instances.
//!
//! Keys: session records under their bare session id (the store crate's layout);
//! `auth:logout:<sha256>` for recorded logouts; `auth:refresh:lock:<sha256>` and
//! `auth:refresh:done:<sha256>` for refreshes, where the hash is of the refresh token.

use std::time::Duration;

use fred::prelude::{
    Builder, ClientLike, Config, Error as RedisError, ErrorKind, Expiration, KeysInterface, Pool,
    ReconnectPolicy, SetOptions,
};
use sha2::{Digest, Sha256};

use crate::flow::refresh::Refreshed;
use crate::seal::Sealer;

/// Connections kept to Redis.
const POOL_SIZE: usize = 4;

/// The shared state in Redis, plus the store for session records.
#[derive(Clone, Debug)]
pub(crate) struct RedisShared {
    pool: Pool,
}

fn hashed(prefix: &str, value: &str) -> String {
    format!("{prefix}{}", hex::encode(Sha256::digest(value.as_bytes())))
}

impl RedisShared {
    /// Connects (in the background: the app starts even while Redis is down, and
    /// every command is bounded by `command_timeout`).
    pub(crate) async fn connect(url: &str, command_timeout: Duration) -> Result<Self, String> {
        let config = Config::from_url(url).map_err(|e| e.to_string())?;
        let pool = Builder::from_config(config)
            .with_performance_config(|p| p.default_command_timeout = command_timeout)
            .with_connection_config(|c| {
                c.connection_timeout = command_timeout;
                c.internal_command_timeout = command_timeout;
                c.max_command_attempts = 1;
            })
            .set_policy(ReconnectPolicy::new_constant(0, 250))
            .build_pool(POOL_SIZE)
            .map_err(|e| e.to_string())?;
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
        Ok(Self { pool })
    }

    /// The session store on this connection pool.
    pub(crate) fn store(&self) -> tower_sessions_redis_store::RedisStore<Pool> {
        tower_sessions_redis_store::RedisStore::new(self.pool.clone())
    }

    /// Records a back-channel logout (`key` is `sid:..` or `sub:..`) at `at`, kept for
    /// `ttl` (the longest session lifetime).
    pub(crate) async fn record_logout(
        &self,
        key: &str,
        at: i64,
        ttl: Duration,
    ) -> Result<(), RedisError> {
        let expire = Expiration::EX(ttl.as_secs().max(1) as i64);
        self.pool
            .set::<(), _, _>(hashed("auth:logout:", key), at, Some(expire), None, false)
            .await
    }

    /// The logout times recorded for `keys`, in order.
    pub(crate) async fn logouts(&self, keys: &[String]) -> Result<Vec<Option<i64>>, RedisError> {
        let keys: Vec<String> = keys.iter().map(|k| hashed("auth:logout:", k)).collect();
        if keys.len() == 1 {
            Ok(vec![self.pool.get(keys[0].clone()).await?])
        } else {
            self.pool.mget(keys).await
        }
    }

    /// Takes the refresh lock of `refresh_token` for `ttl`; false when another
    /// instance holds it.
    pub(crate) async fn lock_refresh(
        &self,
        refresh_token: &str,
        ttl: Duration,
    ) -> Result<bool, RedisError> {
        let set: Option<String> = self
            .pool
            .set(
                hashed("auth:refresh:lock:", refresh_token),
                "1",
                Some(Expiration::PX(ttl.as_millis() as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        Ok(set.is_some())
    }

    /// Releases the refresh lock of `refresh_token`.
    pub(crate) async fn unlock_refresh(&self, refresh_token: &str) -> Result<(), RedisError> {
        self.pool
            .del::<(), _>(hashed("auth:refresh:lock:", refresh_token))
            .await
    }

    /// Publishes a refresh's result for the other instances, for `ttl` (sealed like
    /// session records when they are).
    pub(crate) async fn publish_refresh(
        &self,
        refresh_token: &str,
        result: &Refreshed,
        ttl: Duration,
        sealer: Option<&Sealer>,
    ) -> Result<(), RedisError> {
        let key = hashed("auth:refresh:done:", refresh_token);
        let json = serde_json::to_vec(result).unwrap_or_default();
        let value = match sealer {
            Some(s) => s
                .seal(&json, key.as_bytes())
                .map_err(|e| RedisError::new(ErrorKind::Unknown, e))?,
            None => String::from_utf8(json).unwrap_or_default(),
        };
        self.pool
            .set::<(), _, _>(
                key,
                value,
                Some(Expiration::PX(ttl.as_millis() as i64)),
                None,
                false,
            )
            .await
    }

    /// The result another instance published for `refresh_token`, if any.
    pub(crate) async fn published_refresh(
        &self,
        refresh_token: &str,
        sealer: Option<&Sealer>,
    ) -> Result<Option<Result<Refreshed, ()>>, RedisError> {
        let key = hashed("auth:refresh:done:", refresh_token);
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
