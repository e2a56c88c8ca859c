//! Devices' usage against their limits in Redis, shared by every command-api instance: one hash
//! per device (`<ns>:usage:<device>`), decided and updated by one Lua script, so concurrent
//! instances never both spend the same readings. The script does what `domain::limits::take` and
//! `refund` do; `tests/src/contract/usage.rs` holds both adapters to the same answers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use redis::Script;
use watershed_domain::limits::{self, Decision, Exceeded, Limits, RetryAfter, Usage};
use watershed_domain::ports::{UsageCounter, UsageUnavailable};
use watershed_domain::DeviceId;

use super::{bounded, connect};

/// A device idle for two days starts afresh: both of its counts would have reset by then.
const IDLE_TTL_SECS: u64 = 2 * 86_400;

/// ARGV: mode (`take` or `refund`), n, rate (0: none), quota (0: none), now in µs, today (days
/// since 1970), seconds to midnight, idle TTL. Answers {refused (0 no, 1 rate, 2 quota), retry
/// after, tokens (as text: Lua would truncate a number), at_us, day, used}; {} for a refund of a
/// device with no usage.
const SCRIPT: &str = r"
local mode = ARGV[1]
local n, rate, quota = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now, today = tonumber(ARGV[5]), tonumber(ARGV[6])
local h = redis.call('HMGET', KEYS[1], 't', 'a', 'd', 'u')
local tokens, at, day, used
if h[1] then
  tokens, at, day, used = tonumber(h[1]), tonumber(h[2]), tonumber(h[3]), tonumber(h[4])
  tokens = math.min(tokens + math.max(now - at, 0) / 1e6 * rate, rate)
  at = math.max(at, now)
  if day ~= today then day, used = today, 0 end
elseif mode == 'refund' then
  return {}
else
  tokens, at, day, used = rate, now, today, 0
end
local refused, retry = 0, 0
if mode == 'take' then
  if rate > 0 and tokens < math.min(n, rate) then
    refused, retry = 1, math.ceil((math.min(n, rate) - tokens) / rate)
  elseif quota > 0 and used + n > quota then
    refused, retry = 2, tonumber(ARGV[7])
  else
    tokens, used = tokens - n, used + n
  end
else
  if rate > 0 then tokens = math.min(tokens + n, rate) end
  used = math.max(used - n, 0)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'a', at, 'd', day, 'u', used)
redis.call('EXPIRE', KEYS[1], ARGV[8])
return {refused, retry, tostring(tokens), at, day, used}
";

pub struct RedisUsage {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
}

impl RedisUsage {
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, UsageUnavailable> {
        Ok(Self {
            conn: connect(url).await.map_err(UsageUnavailable)?,
            script: Script::new(SCRIPT),
            prefix: format!("{namespace}:usage:"),
        })
    }

    async fn run(
        &self,
        mode: &str,
        device: &DeviceId,
        n: u64,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<Option<(Usage, Option<(Exceeded, RetryAfter)>)>, UsageUnavailable> {
        let mut invocation = self.script.key(format!("{}{device}", self.prefix));
        invocation
            .arg(mode)
            .arg(n)
            .arg(limits.readings_per_second.unwrap_or(0))
            .arg(limits.readings_per_day.unwrap_or(0))
            .arg(now.timestamp_micros())
            .arg(limits::day_of(now))
            .arg(limits::secs_to_midnight(now))
            .arg(IDLE_TTL_SECS);
        let mut conn = self.conn.clone();
        let answer: Vec<redis::Value> = bounded(invocation.invoke_async(&mut conn))
            .await
            .map_err(UsageUnavailable)?;
        if answer.is_empty() {
            return Ok(None);
        }
        let (refused, retry, tokens, at_us, day, used): (u8, u64, String, i64, i64, u64) =
            redis::FromRedisValue::from_redis_value(redis::Value::Array(answer))
                .map_err(|e| UsageUnavailable(format!("usage script answered {e}")))?;
        let tokens = tokens
            .parse()
            .map_err(|e| UsageUnavailable(format!("usage tokens {tokens:?}: {e}")))?;
        let refused = match refused {
            0 => None,
            1 => Some((Exceeded::Rate, RetryAfter(retry))),
            _ => Some((Exceeded::Quota, RetryAfter(retry))),
        };
        let usage = Usage {
            tokens,
            at_us,
            day,
            used,
        };
        Ok(Some((usage, refused)))
    }
}

#[async_trait]
impl UsageCounter for RedisUsage {
    async fn take(
        &self,
        device: &DeviceId,
        n: u64,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<Decision, UsageUnavailable> {
        let (usage, refused) =
            self.run("take", device, n, limits, now)
                .await?
                .ok_or_else(|| {
                    UsageUnavailable("the usage script answered nothing to a take".into())
                })?;
        Ok(limits::decision(&usage, refused, limits, now))
    }

    async fn refund(
        &self,
        device: &DeviceId,
        n: u64,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<(), UsageUnavailable> {
        self.run("refund", device, n, limits, now).await.map(drop)
    }
}
