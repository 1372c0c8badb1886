//! A scripted [`Transport`] for in-process tests: answers come from a function
//! of the request and the (paused) clock, after an optional latency, and every
//! arrival is recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use super::{RawResponse, Sending, Transport, TransportError};
use crate::services::Request;

/// One request as the script saw it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub request: Request,
    pub status: Option<u16>,
}

type Answer = dyn Fn(usize, &Request) -> Result<RawResponse, TransportError> + Send + Sync;

/// Answers every request with `answer(n, request)` (`n` counts from 0) after `latency`.
#[derive(Clone)]
pub struct Script {
    answer: Arc<Answer>,
    latency: Duration,
    pub seen: Arc<Mutex<Vec<Arrival>>>,
}

impl Script {
    pub fn new(
        answer: impl Fn(usize, &Request) -> Result<RawResponse, TransportError> + Send + Sync + 'static,
    ) -> Self {
        Script {
            answer: Arc::new(answer),
            latency: Duration::ZERO,
            seen: Arc::default(),
        }
    }

    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = d;
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
            let result = (self.answer)(n, req);
            if let Ok(r) = &result {
                self.seen.lock().unwrap()[n].status = Some(r.status);
            }
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
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
