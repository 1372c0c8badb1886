//! The lane under tokio's paused clock against a scripted transport: quotas,
//! the shared pause, `Retry-After` in both forms, backoff bounds, `--max-wait`,
//! fatal answers stopping every worker.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::*;
use crate::http::TransportError;
use crate::http::script::{Script, answer, ok};
use crate::model::{Method, Request, X_RATELIMIT_UNIX};

/// A Unix time with a fractional second, so window edges are not on whole seconds.
const T0: f64 = 1_700_000_000.25;

/// A lane's settings for tests: `X-RateLimit-*` headers, a seeded jitter.
fn config(rate: Option<Rate>, concurrency: usize, retries: u32) -> LaneConfig {
    LaneConfig {
        name: "test",
        rate,
        burst: 1,
        follow_limit: None,
        concurrency,
        headers: Some(X_RATELIMIT_UNIX),
        max_retries: retries,
        max_wait: None,
        seed: Some(7),
    }
}

/// A lane on `script` whose wall clock starts at [`T0`].
fn lane_on(script: &Script, cfg: LaneConfig) -> Arc<Lane> {
    Arc::new(Lane::with_clock(
        cfg,
        Arc::new(script.clone()),
        Arc::default(),
        Stop::default(),
        Clock::at(UNIX_EPOCH + Duration::from_secs_f64(T0)),
    ))
}

fn lane_with(script: &Script, rate: Option<Rate>, concurrency: usize, retries: u32) -> Arc<Lane> {
    lane_on(script, config(rate, concurrency, retries))
}

fn req() -> Request {
    Request::new(Method::Post, "/people/delete")
}

/// Send `n` requests from `n` tasks at once; their results in order.
async fn send_all(lane: &Arc<Lane>, n: usize) -> Vec<Result<RawResponse, SendError>> {
    let mut tasks = vec![];
    for _ in 0..n {
        let lane = Arc::clone(lane);
        tasks.push(tokio::spawn(async move { lane.send(&req(), "t").await }));
    }
    let mut out = vec![];
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn secs_since(t0: Instant, at: Instant) -> f64 {
    (at - t0).as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn a_quota_spaces_requests_evenly() {
    let script = Script::new(|_, _| ok(202, "{}"));
    let lane = lane_with(&script, Some(Rate::per_second(10)), 8, 0);
    let t0 = Instant::now();
    let results = send_all(&lane, 30).await;
    assert!(results.iter().all(Result::is_ok));
    let arrivals = script.arrivals();
    let last = secs_since(t0, arrivals.last().unwrap().at);
    assert!((2.85..=3.0).contains(&last), "30 at 10/s: last at {last}s");
    for pair in arrivals.windows(2) {
        let gap = (pair[1].at - pair[0].at).as_secs_f64();
        assert!(gap >= 0.099, "gap {gap}");
    }
}

#[tokio::test(start_paused = true)]
async fn remaining_zero_holds_every_worker_until_the_reset() {
    // The first answer says the window is used up until T0 + 5 s.
    let reset = (T0 + 5.0).floor();
    let script = Script::new(move |n, _| {
        let remaining = if n == 0 { "0" } else { "10" };
        Ok(answer(
            202,
            &[
                ("x-ratelimit-limit", "10".into()),
                ("x-ratelimit-remaining", remaining.into()),
                ("x-ratelimit-reset", format!("{reset}")),
            ],
            "{}",
        ))
    });
    let lane = lane_with(&script, None, 1, 0);
    let t0 = Instant::now();
    let results = send_all(&lane, 4).await;
    assert!(results.iter().all(Result::is_ok));
    let arrivals = script.arrivals();
    assert_eq!(arrivals.len(), 4);
    let wait = reset - T0 + crate::http::headers::RESET_MARGIN.as_secs_f64();
    for a in &arrivals[1..] {
        let at = secs_since(t0, a.at);
        assert!(
            at >= wait - 0.001,
            "sent at {at}s, before the reset at {wait}s"
        );
    }
}

async fn a_429_pauses_everyone(retry_after: String, wait: f64) {
    let script = Script::new(move |n, _| {
        if n == 0 {
            Ok(answer(429, &[("retry-after", retry_after.clone())], ""))
        } else {
            ok(202, "{}")
        }
    });
    let lane = lane_with(&script, None, 4, 3);
    let t0 = Instant::now();
    let first = {
        let lane = Arc::clone(&lane);
        tokio::spawn(async move { lane.send(&req(), "t").await })
    };
    // The others start after the 429 has arrived.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let results = send_all(&lane, 3).await;
    assert!(first.await.unwrap().is_ok());
    assert!(results.iter().all(Result::is_ok));
    let arrivals = script.arrivals();
    assert_eq!(arrivals.len(), 5, "one 429, then five sends in all");
    assert_eq!(arrivals[0].status, Some(429));
    for a in &arrivals[1..] {
        let at = secs_since(t0, a.at);
        assert!(at >= wait - 0.001, "sent at {at}s during the {wait}s pause");
    }
    assert_eq!(lane.stats.throttled.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_pauses_every_worker() {
    a_429_pauses_everyone("3".into(), 3.0).await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date_pauses_every_worker() {
    let at = UNIX_EPOCH + Duration::from_secs_f64(T0.floor() + 4.0);
    a_429_pauses_everyone(httpdate::fmt_http_date(at), 3.75).await;
}

#[tokio::test(start_paused = true)]
async fn server_errors_back_off_within_the_full_jitter_bounds() {
    let script = Script::new(|n, _| {
        if n < 3 {
            ok(503, "busy")
        } else {
            ok(202, "{}")
        }
    });
    let lane = lane_with(&script, None, 1, 8);
    assert!(lane.send(&req(), "t").await.is_ok());
    let a = script.arrivals();
    assert_eq!(a.len(), 4);
    // Attempt n waits in [0, 0.5 s · 2ⁿ).
    for (n, pair) in a.windows(2).enumerate() {
        let gap = (pair[1].at - pair[0].at).as_secs_f64();
        let ceiling = 0.5 * f64::from(1u32 << n);
        assert!(gap < ceiling, "retry {n}: waited {gap}s, cap {ceiling}s");
    }
    assert_eq!(lane.stats.retries.load(Ordering::Relaxed), 3);
}

/// Trap 8: a request that creates a vendor task, timed out (it may have
/// reached the vendor), is sent exactly once and fails saying why; a 429 or a
/// connection never made is sent again; an idempotent one is retried as before.
#[tokio::test(start_paused = true)]
async fn a_request_that_is_not_idempotent_is_not_re_sent_once_it_may_have_arrived() {
    let task = || req().once();
    let script = Script::new(|_, _| Err(TransportError::Other("timed out".into())));
    let lane = lane_with(&script, None, 1, 3);
    let err = lane.send(&task(), "t").await.unwrap_err();
    assert_eq!(script.count(), 1, "sent exactly once");
    let SendError::Exhausted(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.status, None);
    assert_eq!((e.attempts, e.gave_up), (1, GaveUp::MayHaveArrived));
    let detail = e.to_string();
    assert!(
        detail.starts_with("timed out: the request may have reached the vendor"),
        "{detail}"
    );
    assert!(
        detail.contains("not re-sent") && detail.contains("purge verify"),
        "{detail}"
    );
    // A 500 may have been processed too.
    let script = Script::new(|_, _| ok(500, "oops"));
    let lane = lane_with(&script, None, 1, 3);
    assert!(lane.send(&task(), "t").await.is_err());
    assert_eq!(script.count(), 1);
    // Refused before it was processed, or never sent: sent again.
    let script = Script::new(|n, _| match n {
        0 => Err(TransportError::NotSent("connection refused".into())),
        1 => ok(429, ""),
        2 => ok(503, "unavailable"),
        _ => ok(200, "{}"),
    });
    let lane = lane_with(&script, None, 1, 3);
    assert_eq!(lane.send(&task(), "t").await.unwrap().status, 200);
    assert_eq!(script.count(), 4);
    // The same timeout on an idempotent request is retried.
    let script = Script::new(|n, _| {
        if n == 0 {
            Err(TransportError::Other("timed out".into()))
        } else {
            ok(200, "{}")
        }
    });
    let lane = lane_with(&script, None, 1, 3);
    assert_eq!(lane.send(&req(), "t").await.unwrap().status, 200);
    assert_eq!(script.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_with_the_last_reason() {
    let script = Script::new(|n, _| {
        if n % 2 == 0 {
            Err(TransportError::Other("connection reset".into()))
        } else {
            ok(502, "bad gateway")
        }
    });
    let lane = lane_with(&script, None, 1, 2);
    let t0 = Instant::now();
    let err = lane
        .send(&req(), "#7 DELETE /x/{id} (1 id)")
        .await
        .unwrap_err();
    let SendError::Exhausted(e) = err else {
        panic!("{err:?}")
    };
    // Typed like object_store's RetryError: the request, its last status,
    // attempts, time, the last reason and why no more.
    assert_eq!(e.request, "#7 DELETE /x/{id} (1 id)");
    assert_eq!(
        (e.status, e.attempts, e.gave_up),
        (None, 3, GaveUp::Retries)
    );
    assert_eq!(e.reason, "connection reset");
    assert!(
        e.elapsed > Duration::ZERO && e.elapsed <= t0.elapsed(),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "connection reset (gave up after 3 attempts)");
    assert!(
        e.logged()
            .starts_with("#7 DELETE /x/{id} (1 id): given up after 3 attempts in "),
        "{}",
        e.logged()
    );
    assert_eq!(script.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_max_wait_ends_the_send() {
    let script = Script::new(|_, _| Ok(answer(429, &[("retry-after", "120".into())], "")));
    let lane = lane_with(&script, None, 1, 8);
    let lane = Arc::new(Lane::with_clock(
        LaneConfig {
            max_wait: Some(Duration::from_secs(60)),
            ..lane.cfg.clone()
        },
        Arc::new(script.clone()),
        Arc::default(),
        Stop::default(),
        Clock::system(),
    ));
    let t0 = Instant::now();
    let err = lane.send(&req(), "t").await.unwrap_err();
    assert_eq!(
        err,
        SendError::WaitTooLong {
            wait: Duration::from_secs(120)
        }
    );
    assert_eq!(Instant::now(), t0, "no time spent waiting");
}

#[tokio::test(start_paused = true)]
async fn a_refused_credential_stops_every_worker() {
    let script = Script::new(|n, _| {
        if n == 0 {
            ok(401, "bad token")
        } else {
            ok(202, "{}")
        }
    })
    .latency(Duration::from_millis(100));
    let lane = lane_with(&script, Some(Rate::per_second(5)), 4, 3);
    let results = send_all(&lane, 6).await;
    assert!(matches!(&results[0], Err(SendError::Fatal(f)) if f.status == 401));
    // The quota spaces sends 200 ms apart: the 401 (answered at 100 ms) stops the rest.
    assert!(
        results[1..]
            .iter()
            .all(|r| matches!(r, Err(SendError::Stopped))),
        "{results:?}"
    );
    assert_eq!(script.count(), 1);
    let _ = SystemTime::now();
}

#[tokio::test(start_paused = true)]
async fn a_redirect_is_fatal_and_names_the_host() {
    let script = Script::new(|_, _| {
        Ok(answer(
            307,
            &[("location", "http://127.0.0.2:9/people/delete".into())],
            "",
        ))
    });
    let lane = lane_with(&script, None, 1, 3);
    match lane.send(&req(), "t").await {
        Err(SendError::Fatal(f)) => {
            assert_eq!(f.status, 307);
            assert!(f.detail.contains("to host 127.0.0.2"), "{}", f.detail);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(script.count(), 1, "a redirect is not retried");
}

/// `n` requests from 8 workers against a clock-aligned fixed window; the 429s.
async fn against_a_fixed_window(
    limit: u64,
    window: Duration,
    with_limit: bool,
    n: usize,
) -> (u64, Duration) {
    let clock = Clock::at(UNIX_EPOCH + Duration::from_secs_f64(T0));
    let mut win = crate::http::script::FixedWindow::new(limit, window, clock);
    win.with_limit = with_limit;
    let w = win.clone();
    let script = Script::new(move |_, _| Ok(w.answer())).latency(Duration::from_millis(20));
    let cfg = config(None, 8, 8);
    let lane = lane_on(&script, cfg);
    let t0 = Instant::now();
    let results = send_all(&lane, n).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    (win.throttled(), t0.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_fixed_window_of_3_per_2s_is_not_overrun_at_its_resets() {
    let (throttled, took) = against_a_fixed_window(3, Duration::from_secs(2), true, 12).await;
    assert!(throttled <= 1, "{throttled} answers 429");
    // 12 requests at 3 per 2-second window: 4 windows, the first one partial.
    assert!(took <= Duration::from_secs(6), "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fixed_window_without_a_limit_header_is_not_overrun() {
    let (throttled, took) = against_a_fixed_window(3, Duration::from_secs(2), false, 12).await;
    assert!(throttled <= 1, "{throttled} answers 429");
    assert!(took <= Duration::from_secs(6), "took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fixed_window_of_20_per_second_is_used_fully() {
    let (throttled, took) = against_a_fixed_window(20, Duration::from_secs(1), true, 400).await;
    assert!(throttled <= 1, "{throttled} answers 429");
    assert!(took <= Duration::from_millis(19_500), "took {took:?}");
}

/// How a silent vendor answers: its 429s say nothing (no rate headers, no
/// `Retry-After`), as Gainsight PX's do.
#[derive(Clone, Copy, Debug)]
enum Silent {
    /// A clock-aligned window of this many a second.
    Window(u64),
    /// A token bucket of this many a second, holding `burst`.
    Bucket(f64, f64),
}

/// `n` single requests at 32 in flight (Gainsight PX's lane: its documented
/// 200/s quota, no rate headers) against a silent vendor `shape` answering in
/// 50 ms, the wall clock starting `phase` seconds into a second (where a
/// clock-aligned window's resets fall); (accepted, answers 429, time taken).
async fn against_a_silent_limit(shape: Silent, phase: f64, n: usize) -> (usize, u64, Duration) {
    let clock = Clock::at(UNIX_EPOCH + Duration::from_secs_f64(T0.floor() + phase));
    let answer_with: Arc<dyn Fn() -> RawResponse + Send + Sync> = match shape {
        Silent::Window(per_second) => {
            let win =
                crate::http::script::FixedWindow::new(per_second, Duration::from_secs(1), clock);
            Arc::new(move || {
                let a = win.answer();
                answer(a.status, &[], "")
            })
        }
        Silent::Bucket(rate, burst) => {
            let bucket = crate::http::script::TokenBucket::new(rate, burst);
            Arc::new(move || bucket.answer())
        }
    };
    let script = Script::new(move |_, _| Ok(answer_with())).latency(Duration::from_millis(50));
    let cfg = LaneConfig {
        headers: None,
        ..config(Some(Rate::per_second(200)), 32, 8)
    };
    let lane = lane_on(&script, cfg);
    let t0 = Instant::now();
    let results = send_all(&lane, n).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let throttled = script
        .arrivals()
        .iter()
        .filter(|a| a.status == Some(429))
        .count() as u64;
    (ok, throttled, t0.elapsed())
}

/// The goal for a vendor that says nothing (issue 24) is at least 0.85 of its
/// quota with at most 5% of answers 429; kept with a margin: at most 3%.
async fn keeps_to_a_silent_limit(shape: Silent, phase: f64, per_second: f64, n: usize) {
    let (ok, throttled, took) = against_a_silent_limit(shape, phase, n).await;
    assert_eq!(ok, n, "every request ends accepted");
    let answers = n as u64 + throttled;
    let share = throttled as f64 / answers as f64;
    let efficiency = n as f64 / per_second / took.as_secs_f64();
    eprintln!(
        "{shape:?} from {phase} s: {n} in {took:?}: efficiency {efficiency:.3}, {throttled} answers 429 ({:.1}%)",
        share * 100.0
    );
    assert!(
        share <= 0.03,
        "{shape:?} from {phase} s: {throttled} answers 429 of {answers}"
    );
    assert!(
        efficiency >= 0.85,
        "{shape:?} from {phase} s: took {took:?}: {efficiency:.3} of the quota"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_token_bucket_of_20_per_second_holding_2_is_kept_to() {
    keeps_to_a_silent_limit(Silent::Bucket(20.0, 2.0), 0.25, 20.0, 600).await;
}

/// A rate a little over the window's 20 is refused at the end of every
/// window: the pace levels off under the limit it found and probes above it
/// only after a plateau. Four phases of the resets; where slow start's rounds
/// straddle one (0.9 s into a second) its start costs more (4.2% in all).
#[tokio::test(start_paused = true)]
async fn a_silent_window_of_20_per_second_is_kept_to_at_four_phases_of_its_resets() {
    for phase in [0.0, 0.25, 0.5, 0.75] {
        keeps_to_a_silent_limit(Silent::Window(20), phase, 20.0, 600).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_limit_of_2_per_second_is_found_without_a_storm() {
    let (ok, throttled, took) = against_a_silent_limit(Silent::Window(2), 0.25, 20).await;
    assert_eq!(ok, 20, "every request ends accepted");
    // Slow start's first round (4 at once) meets the 2 of the first window, and
    // the rate then measured (4/s) is above the limit: a few more 429s until
    // the curve settles below it, never a storm.
    assert!(
        throttled <= 8,
        "{throttled} answers 429 for 20 requests, {took:?}"
    );
    assert!(
        took <= Duration::from_secs(15),
        "took {took:?} (ideal 10 s)"
    );
}

#[test]
fn quotas_space_cells_and_allow_a_tick_of_slack_when_close() {
    let q = quota(Rate::per_minute(600), 1).unwrap();
    assert_eq!(q.replenish_interval(), Duration::from_millis(100));
    assert_eq!(q.burst_size().get(), 1);
    assert!(quota(Rate::per_second(0), 1).is_none());
    assert_eq!(
        quota(Rate::per_minute(70), 700).unwrap().burst_size().get(),
        700
    );
    // At 200/s a cell late by a timer tick may be made up.
    assert_eq!(
        quota(Rate::per_second(200), 1).unwrap().burst_size().get(),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_fast_quota_keeps_its_long_run_rate() {
    // 300/s: a cell every 3.33 ms, which tokio's timer rounds up to 4 ms. Without
    // a cell of slack the lateness adds up to 250/s; with it the rate stays 300/s.
    let script = Script::new(|_, _| ok(204, "")).latency(Duration::from_millis(50));
    let lane = lane_with(&script, Some(Rate::per_second(300)), 32, 0);
    let t0 = Instant::now();
    let results = send_all(&lane, 900).await;
    assert!(results.iter().all(Result::is_ok));
    let last = secs_since(t0, script.arrivals().last().unwrap().at);
    // 900 at 300/s: the last leaves at about 3 s, never before.
    assert!((2.99..3.05).contains(&last), "last at {last}s");
}

#[tokio::test(start_paused = true)]
async fn a_reported_limit_is_followed_down_as_well_as_up() {
    // Zendesk's smallest plans allow 10 requests a minute: x-rate-limit says so.
    let script = Script::new(|_, _| {
        Ok(answer(
            200,
            &[
                ("x-rate-limit", "10".into()),
                ("x-rate-limit-remaining", "9".into()),
            ],
            "{}",
        ))
    });
    let cfg = LaneConfig {
        follow_limit: Some(Duration::from_secs(60)),
        headers: Some(crate::services::zendesk::ZENDESK_HEADERS),
        ..config(Some(Rate::per_minute(200)), 1, 0)
    };
    let lane = Lane::with_clock(
        cfg,
        Arc::new(script.clone()),
        Arc::default(),
        Stop::default(),
        Clock::system(),
    );
    for _ in 0..3 {
        lane.send(&req(), "t").await.unwrap();
    }
    let a = script.arrivals();
    // After the first answer, one request every 6 s (10 a minute), not every 0.3 s.
    let gap = (a[2].at - a[1].at).as_secs_f64();
    assert!(gap >= 5.99, "{gap}");
}

/// A pseudo-random number in `0..spread` for request `n` (`salt` varies it).
fn scatter(n: usize, salt: u64, spread: u64) -> u64 {
    ((n as u64 ^ (salt << 20)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % spread.max(1)
}

#[tokio::test(start_paused = true)]
async fn answers_out_of_order_across_resets_do_not_reopen_the_window() {
    // Braze's shape: 20 per clock-aligned second, X-RateLimit-* on every
    // answer, no Retry-After; requests take 5-155 ms to reach it and answers
    // 10-160 ms to come back, so they are counted, and answered, out of order,
    // and some leave before a reset and are counted after it.
    let clock = Clock::at(UNIX_EPOCH + Duration::from_secs_f64(T0));
    let win = crate::http::script::FixedWindow::new(20, Duration::from_secs(1), clock);
    let w = win.clone();
    let script = Script::new(move |_, _| Ok(w.answer()))
        .on_the_way(|n| Duration::from_millis(5 + scatter(n, 1, 150)))
        .latency_of(|n| Duration::from_millis(10 + scatter(n, 2, 150)));
    // Braze's lane: its documented quota (far above the window) and 8 in flight.
    let lane = lane_with(&script, Some(Rate::per_minute(20_000)), 8, 8);
    let t0 = Instant::now();
    let results = send_all(&lane, 400).await;
    assert!(results.iter().all(Result::is_ok));
    let throttled = win.throttled();
    assert!(
        throttled <= 4,
        "{throttled} answers 429 of {} (over 1%)",
        script.count()
    );
    let took = t0.elapsed();
    assert!(
        took <= Duration::from_millis(20_500),
        "took {took:?} (ideal 20 s)"
    );
}
