//! A scripted [`Transport`] for in-process tests: answers come from a function
//! of the request and the (paused) clock, after an optional latency, and every
//! arrival is recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use super::{RawResponse, Sending, Transport, TransportError};
use crate::model::Request;

/// One request as the script saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub request: Request,
    pub status: Option<u16>,
}

type Answer = dyn Fn(usize, &Request) -> Result<RawResponse, TransportError> + Send + Sync;
type Latency = dyn Fn(usize) -> Duration + Send + Sync;

/// Answers every request with `answer(n, request)` (`n` counts from 0) after `latency`.
#[derive(Clone)]
pub struct Script {
    answer: Arc<Answer>,
    latency: Arc<Latency>,
    /// Time on the way to the vendor: the answer is made (and counted) after it.
    on_the_way: Arc<Latency>,
    pub seen: Arc<Mutex<Vec<Arrival>>>,
}

impl Script {
    pub fn new(
        answer: impl Fn(usize, &Request) -> Result<RawResponse, TransportError> + Send + Sync + 'static,
    ) -> Self {
        Script {
            answer: Arc::new(answer),
            latency: Arc::new(|_| Duration::ZERO),
            on_the_way: Arc::new(|_| Duration::ZERO),
            seen: Arc::default(),
        }
    }

    pub fn latency(self, d: Duration) -> Self {
        self.latency_of(move |_| d)
    }

    /// How long request `n` takes to reach the vendor (which answers and
    /// counts it then; `arrivals` still records when it left).
    pub fn on_the_way(mut self, f: impl Fn(usize) -> Duration + Send + Sync + 'static) -> Self {
        self.on_the_way = Arc::new(f);
        self
    }

    /// The latency of request `n` (answers then arrive out of order).
    pub fn latency_of(mut self, f: impl Fn(usize) -> Duration + Send + Sync + 'static) -> Self {
        self.latency = Arc::new(f);
        self
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Transport for Script {
    fn send<'a>(&'a self, req: &'a Request) -> Sending<'a> {
        Box::pin(async move {
            let n = {
                let mut seen = self.seen.lock().unwrap();
                seen.push(Arrival {
                    at: Instant::now(),
                    request: req.clone(),
                    status: None,
                });
                seen.len() - 1
            };
            let on_the_way = (self.on_the_way)(n);
            if !on_the_way.is_zero() {
                tokio::time::sleep(on_the_way).await;
            }
            let result = (self.answer)(n, req);
            if let Ok(r) = &result {
                self.seen.lock().unwrap()[n].status = Some(r.status);
            }
            let latency = (self.latency)(n);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            result
        })
    }
}

/// An answer with a status, headers and a body.
pub fn answer(status: u16, headers: &[(&str, String)], body: &str) -> RawResponse {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    RawResponse {
        status,
        headers: map,
        body: body.to_string(),
    }
}

pub fn ok(status: u16, body: &str) -> Result<RawResponse, TransportError> {
    Ok(answer(status, &[], body))
}

/// A vendor's fixed window aligned to the (virtual) Unix clock, as Braze and
/// Rally keep theirs: `limit` requests per `window`, `X-RateLimit-*` headers
/// (Reset as Unix time; `Limit` only if `with_limit`), 429 without `Retry-After`
/// beyond the limit. Counts the 429s it gave.
#[derive(Clone)]
pub struct FixedWindow {
    pub limit: u64,
    pub window: Duration,
    pub with_limit: bool,
    pub clock: crate::http::lane::Clock,
    state: Arc<Mutex<(u64, u64, u64)>>,
}

impl FixedWindow {
    pub fn new(limit: u64, window: Duration, clock: crate::http::lane::Clock) -> Self {
        FixedWindow {
            limit,
            window,
            with_limit: true,
            clock,
            state: Arc::default(),
        }
    }

    pub fn throttled(&self) -> u64 {
        self.state.lock().unwrap().2
    }

    pub fn answer(&self) -> RawResponse {
        let now = self
            .clock
            .wall_now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let w = self.window.as_secs_f64();
        let index = (now / w).floor() as u64;
        let reset = ((index + 1) as f64 * w).ceil() as u64;
        let mut s = self.state.lock().unwrap();
        if s.0 != index {
            s.0 = index;
            s.1 = 0;
        }
        let mut headers = vec![("x-ratelimit-reset", reset.to_string())];
        if self.with_limit {
            headers.push(("x-ratelimit-limit", self.limit.to_string()));
        }
        if s.1 >= self.limit {
            s.2 += 1;
            headers.push(("x-ratelimit-remaining", "0".into()));
            return answer(429, &headers, "Too Many Requests");
        }
        s.1 += 1;
        headers.push(("x-ratelimit-remaining", (self.limit - s.1).to_string()));
        answer(202, &headers, "{}")
    }
}

/// A vendor's token bucket on tokio's (paused) clock: `rate` requests a second,
/// holding `burst`; 429 with no headers at all beyond it (as Gainsight PX
/// answers).
#[derive(Clone)]
pub struct TokenBucket {
    pub rate: f64,
    pub burst: f64,
    state: Arc<Mutex<(f64, Option<Instant>)>>,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        TokenBucket {
            rate,
            burst,
            state: Arc::new(Mutex::new((burst, None))),
        }
    }

    pub fn answer(&self) -> RawResponse {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap();
        let since = s.1.map_or(0.0, |at| (now - at).as_secs_f64());
        s.0 = (s.0 + since * self.rate).min(self.burst);
        s.1 = Some(now);
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            answer(204, &[], "")
        } else {
            answer(429, &[], "")
        }
    }
}
