//! The shared store for several instances: Redis, through one multiplexed connection that
//! reconnects by itself. Expiry is Redis's own (PX); counters and the call marks change
//! atomically in small Lua scripts; every key carries a configurable prefix so that several
//! lines or test runs can share one Redis.

use crate::BoxFuture;
use crate::domain::CallSid;
use crate::store::{MapFields, Store, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::time::Duration;

/// Accepts a step once: the mark is the lowest step still accepted.
const ADVANCE: &str = r"
local mark = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(ARGV[1])
if seq < mark then return 0 end
redis.call('SET', KEYS[1], seq + 1, 'PX', ARGV[2])
return 1
";

/// Counts within a window that starts at the first increment; a key that somehow lost its
/// expiry gets one again.
const INCR: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

/// Takes one back from a counter, never below zero, keeping its expiry.
const RELEASE: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
";

/// Compare and swap one field of a hash: ARGV = field, expected-present flag, expected,
/// value-present flag, value, ttl in ms.
const MAP_SWAP: &str = r"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  if current ~= ARGV[3] then return 0 end
elseif current then
  return 0
end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
";

/// Redis-backed store.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    advance: Script,
    incr: Script,
    release: Script,
    map_swap: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// Connects to `url` and checks that Redis answers; `timeout` bounds the connection
    /// attempt and every command, so that a webhook never waits long on a lost Redis.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|e| unavailable(format!("bad Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connect = ConnectionManager::new_with_config(client, config);
        let connection = tokio::time::timeout(timeout * 2, connect)
            .await
            .map_err(|_| unavailable("timed out connecting to Redis"))?
            .map_err(unavailable)?;
        let store = Self {
            connection,
            prefix: prefix.to_owned(),
            advance: Script::new(ADVANCE),
            incr: Script::new(INCR),
            release: Script::new(RELEASE),
            map_swap: Script::new(MAP_SWAP),
        };
        store.health().await?;
        Ok(store)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl Store for RedisStore {
    fn advance<'a>(
        &'a self,
        sid: &'a CallSid,
        seq: u8,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let accepted: i64 = self
                .advance
                .key(self.key(&format!("mark:{}", sid.as_str())))
                .arg(seq)
                .arg(millis(ttl))
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(accepted == 1)
        })
    }

    fn incr<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            self.incr
                .key(self.key(key))
                .arg(millis(window))
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let _: i64 = self
                .release
                .key(self.key(key))
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let value: Option<u64> = connection.get(self.key(key)).await.map_err(unavailable)?;
            Ok(value.unwrap_or(0))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection
                .pset_ex::<_, _, ()>(self.key(key), value, millis(ttl))
                .await
                .map_err(unavailable)
        })
    }

    fn fetch<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection.get(self.key(key)).await.map_err(unavailable)
        })
    }

    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(self.key(key))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(set.is_some())
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection
                .del::<_, ()>(self.key(key))
                .await
                .map_err(unavailable)
        })
    }

    fn append<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        keep: usize,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let key = self.key(key);
            let keep = i64::try_from(keep).unwrap_or(i64::MAX).max(1);
            redis::pipe()
                .atomic()
                .rpush(&key, value)
                .ignore()
                .ltrim(&key, -(keep as isize), -1)
                .ignore()
                .pexpire(&key, i64::try_from(millis(ttl)).unwrap_or(i64::MAX))
                .ignore()
                .query_async::<()>(&mut connection)
                .await
                .map_err(unavailable)
        })
    }

    fn recent<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection
                .lrange(self.key(key), 0, -1)
                .await
                .map_err(unavailable)
        })
    }

    fn map_all<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<MapFields, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let all: MapFields = connection
                .hgetall(self.key(key))
                .await
                .map_err(unavailable)?;
            Ok(all)
        })
    }

    fn map_get<'a>(
        &'a self,
        key: &'a str,
        field: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            connection
                .hget(self.key(key), field)
                .await
                .map_err(unavailable)
        })
    }

    fn map_swap<'a>(
        &'a self,
        key: &'a str,
        field: &'a str,
        expected: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let swapped: i64 = self
                .map_swap
                .key(self.key(key))
                .arg(field)
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or_default())
                .arg(if value.is_some() { "1" } else { "0" })
                .arg(value.unwrap_or_default())
                .arg(millis(ttl))
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(swapped == 1)
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let pong: String = redis::cmd("PING")
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            if pong == "PONG" {
                Ok(())
            } else {
                Err(unavailable(format!("unexpected PING answer {pong:?}")))
            }
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
