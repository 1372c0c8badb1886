//! HTTP: the [`Transport`] every request goes through (reqwest in production, a
//! script in tests), client construction (TLS, timeouts, user agent, auth, no
//! redirects, bounded bodies), base-URL rules, and the lane.

pub mod headers;
pub mod lane;
#[cfg(test)]
pub mod script;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use url::Url;

use crate::model::{Auth, Credential, Method, Request};

pub const USER_AGENT: &str = concat!("purge/", env!("CARGO_PKG_VERSION"));

/// A base URL purge may talk to: `https://`, or `http://` on a loopback host only,
/// with no user name or password in it. Errors never echo a password: the URL
/// is shown with any `user:password@` part replaced by `…@`.
pub fn check_base_url(raw: &str) -> Result<Url, String> {
    let shown = without_userinfo(raw.trim());
    let url =
        Url::parse(raw.trim()).map_err(|e| format!("--base-url {shown:?} is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "--base-url {shown:?} carries a user name or password: purge sends a vendor's \
             credential only in its own header, from the environment or --token-file; \
             remove the `user:password@` part"
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "--base-url {shown:?}: plain http:// is allowed only for loopback hosts (127.0.0.0/8, localhost, [::1]); use https://"
            ));
        }
        other => {
            return Err(format!(
                "--base-url {shown:?}: scheme {other}:// is not supported; use https://"
            ));
        }
    }
    if url.host().is_none() {
        return Err(format!("--base-url {shown:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--base-url {shown:?} must not have a query or fragment"
        ));
    }
    Ok(url)
}

/// `raw` with anything between the scheme and an `@` of the authority replaced
/// by `…`, so that a password typed into a URL is never printed.
pub fn without_userinfo(raw: &str) -> String {
    let Some(start) = raw.find("://").map(|i| i + 3) else {
        return raw.to_string();
    };
    let authority_end = raw[start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| start + i);
    match raw[start..authority_end].rfind('@') {
        Some(at) => format!("{}…{}", &raw[..start], &raw[start + at..]),
        None => raw.to_string(),
    }
}

/// Whether `host` is one of `patterns`, where `*` stands for exactly one DNS
/// label (`*.zendesk.com` is `acme.zendesk.com`, not `a.b.zendesk.com`).
pub fn host_matches(patterns: &[&str], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|p| {
        let (h, p): (Vec<&str>, Vec<&str>) = (host.split('.').collect(), p.split('.').collect());
        h.len() == p.len()
            && h.iter()
                .zip(&p)
                .all(|(h, p)| *p == *h || (*p == "*" && !h.is_empty()) || glob_label(p, h))
    })
}

/// One label with a `*` inside (`rest.*.braze.com` has none; `api-*` would).
fn glob_label(pattern: &str, label: &str) -> bool {
    match pattern.split_once('*') {
        Some((a, b)) => {
            label.len() > a.len() + b.len() && label.starts_with(a) && label.ends_with(b)
        }
        None => false,
    }
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The full URL of a request against a base URL.
pub fn full_url(base: &Url, req: &Request) -> String {
    format!(
        "{}{}",
        base.as_str().trim_end_matches('/'),
        req.path_and_query
    )
}

/// The most of an answer's body purge reads. A job status or a page of users is
/// far smaller; a longer answer is treated like a broken connection, so no server
/// can make purge hold more than this per request in flight.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// One answer, read whole (at most [`MAX_BODY`] bytes).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

/// A future a [`Transport`] returns.
pub type Sending<'a> =
    Pin<Box<dyn Future<Output = Result<RawResponse, TransportError>> + Send + 'a>>;

/// Sends one request once and reads its answer. The lane is written against
/// this, so the engine and adapters run in tests against a scripted transport
/// under tokio's paused clock.
pub trait Transport: Send + Sync {
    fn send<'a>(&'a self, req: &'a Request) -> Sending<'a>;
}

/// A configured client for one endpoint and credential.
pub struct HttpClient {
    client: reqwest::Client,
    base: Url,
    auth: HeaderMap,
    redact: Redactor,
}

/// The shortest credential text [`Redactor`] cuts out.
const MIN_REDACTED: usize = 6;

/// What a URL encoder leaves as it is (RFC 3986 unreserved characters).
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Every form in which purge sends a credential, to be cut out of whatever a
/// vendor answers: a vendor that echoes `Invalid API key: Bearer tok-…` must not
/// put the token into stderr, the report, `--json` or the certificate.
#[derive(Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// The raw secret, the `Authorization` value and its Basic base64 form, the
    /// `user:secret` pair, and each as JSON (`\/`) and URL (`%2F`) would escape it.
    pub fn new(auth: &Auth) -> Redactor {
        let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        let mut forms = match auth {
            Auth::Bearer(s) | Auth::Header(_, s) => vec![s.expose().to_string()],
            Auth::Basic { user, secret } => {
                let pair = format!("{user}:{}", secret.expose());
                vec![secret.expose().to_string(), b64(&pair), pair]
            }
        };
        let escaped: Vec<String> = forms
            .iter()
            .flat_map(|f| {
                [
                    f.replace('/', "\\/"),
                    percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)
                        .to_string(),
                    percent_encoding::utf8_percent_encode(f, UNRESERVED).to_string(),
                ]
            })
            .collect();
        forms.extend(escaped);
        // A form shorter than this is no secret worth the name (guessed at
        // once), and cutting every `k` out of a vendor's text would make it
        // unreadable.
        forms.retain(|f| f.trim().len() >= MIN_REDACTED);
        // Longest first, so a form that contains another is cut whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        Redactor { needles: forms }
    }

    /// `text` with every form of the credential replaced by `[redacted]`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "[redacted]");
            }
        }
        out
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("base", &self.base.as_str())
            .field("auth", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct ClientError(String);

impl HttpClient {
    pub fn new(base: Url, credential: &Credential, timeout: Duration) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // A deletion API has no reason to redirect: a 3xx means a wrong base URL
            // or an attack, and following it would carry the credential (a vendor's
            // own key header is not stripped across hosts) and the identifiers to
            // another host. The lane stops the run on any 3xx instead.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)));
        if is_loopback(&base) {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| ClientError(e.to_string()))?;
        let mut map = HeaderMap::new();
        for (name, value) in &credential.headers {
            let value = HeaderValue::from_str(value).map_err(|_| {
                ClientError(format!(
                    "header {name} has characters a header cannot carry"
                ))
            })?;
            map.insert(reqwest::header::HeaderName::from_static(name), value);
        }
        let (name, value) = match &credential.auth {
            Auth::Bearer(s) => (AUTHORIZATION, format!("Bearer {}", s.expose())),
            Auth::Basic { user, secret } => (
                AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{}", secret.expose()))
                ),
            ),
            Auth::Header(h, s) => (
                reqwest::header::HeaderName::from_static(h),
                s.expose().to_string(),
            ),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            ClientError("the credential has characters a header cannot carry".into())
        })?;
        value.set_sensitive(true);
        map.insert(name, value);
        map.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(HttpClient {
            client,
            base,
            auth: map,
            redact: Redactor::new(&credential.auth),
        })
    }

    /// Send once; the body is read whole up to [`MAX_BODY`] (a reset mid-body, or a
    /// longer body, is an error like any other).
    async fn execute(&self, req: &Request) -> Result<RawResponse, TransportError> {
        let url = full_url(&self.base, req);
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, url).headers(self.auth.clone());
        if let Some(body) = &req.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let mut resp = builder.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(TransportError::TooLarge);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(TransportError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(RawResponse {
            status,
            headers,
            body: self.redact.apply(&String::from_utf8_lossy(&bytes)),
        })
    }
}

impl Transport for HttpClient {
    fn send<'a>(&'a self, req: &'a Request) -> Sending<'a> {
        Box::pin(self.execute(req))
    }
}

/// Why a send got no answer to read.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{}", describe_error(.0))]
    Http(#[from] reqwest::Error),
    /// The body went past [`MAX_BODY`]; reading stopped there.
    #[error("the answer was larger than {} MiB; stopped reading it", MAX_BODY / (1024 * 1024))]
    TooLarge,
    /// Any other failure to get an answer (a test transport's dropped connection).
    #[error("{0}")]
    Other(String),
    /// A failure before any of the request was sent (a test transport's
    /// refused connection).
    #[error("{0}")]
    NotSent(String),
}

impl TransportError {
    /// Whether the request certainly did not reach the vendor: the connection
    /// was never made. A timeout, or a connection reset once it was, may have
    /// delivered it.
    pub fn not_sent(&self) -> bool {
        match self {
            TransportError::Http(e) => e.is_connect(),
            TransportError::NotSent(_) => true,
            TransportError::TooLarge | TransportError::Other(_) => false,
        }
    }
}

/// Say what went wrong with a transport error, without the URL (it may carry identifiers).
pub fn describe_error(e: &reqwest::Error) -> String {
    // The host and port only: the path may carry identifiers.
    let host = e
        .url()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)));
    let connect = match &host {
        Some(h) => format!("could not connect to {h}"),
        None => "could not connect".to_string(),
    };
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        connect.as_str()
    } else if e.is_body() || e.is_decode() {
        "connection broke while reading the answer"
    } else if e.is_request() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({cause})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[tokio::test]
    async fn the_credential_and_a_vendors_fixed_headers_are_sent() {
        use wiremock::matchers::{header, method, path};
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(method("POST"))
            .and(path("/people/delete"))
            .and(header("x-api-version", "2026-01"))
            .and(header("x-aptrinsic-api-key", "k-1"))
            .and(header("content-type", "application/json"))
            .respond_with(wiremock::ResponseTemplate::new(202).set_body_string("{}"))
            .expect(1)
            .mount(&server)
            .await;
        let credential = Credential {
            auth: Auth::Header("x-aptrinsic-api-key", Secret::new("k-1")),
            base: None,
            headers: vec![("x-api-version", "2026-01".into())],
        };
        let client = HttpClient::new(
            Url::parse(&server.uri()).unwrap(),
            &credential,
            Duration::from_secs(5),
        )
        .unwrap();
        let req = Request::new(Method::Post, "/people/delete").json(serde_json::json!({}));
        let resp = client.send(&req).await.unwrap();
        assert_eq!(resp.status, 202);
        assert!(!format!("{client:?}").contains("k-1"));
        server.verify().await;
    }

    #[test]
    fn base_url_rules() {
        assert!(check_base_url("https://api.example.com/v1").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://127.8.9.1:8080").is_ok());
        assert!(check_base_url("http://localhost:1").is_ok());
        assert!(check_base_url("http://[::1]:1").is_ok());
        assert!(check_base_url("http://10.0.0.1").is_err());
        assert!(check_base_url("http://example.com").is_err());
        assert!(check_base_url("ftp://127.0.0.1").is_err());
        assert!(check_base_url("not a url").is_err());
    }

    #[test]
    fn a_password_in_a_base_url_is_refused_and_never_echoed() {
        for raw in [
            "https://user:s3cr3t@api.example.com/v1",
            "https://s3cr3t@api.example.com",
            "http://u:s3cr3t@127.0.0.1:9/x",
            "https://u:s3cr3t@bad host/",
        ] {
            let e = check_base_url(raw).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{e}");
            assert!(e.contains("…@"), "{e}");
        }
        assert_eq!(
            without_userinfo("https://a:b@h.example/p@q"),
            "https://…@h.example/p@q"
        );
        assert_eq!(
            without_userinfo("https://h.example/p@q"),
            "https://h.example/p@q"
        );
    }

    #[test]
    fn every_form_of_the_credential_is_cut_from_vendor_text() {
        use crate::secret::Secret;
        let basic = Redactor::new(&Auth::Basic {
            user: "ann@example.com/token".into(),
            secret: Secret::new("tok-9f/x"),
        });
        let b64 =
            base64::engine::general_purpose::STANDARD.encode("ann@example.com/token:tok-9f/x");
        for echo in [
            "Invalid API key: tok-9f/x".to_string(),
            format!("Authorization: Basic {b64}"),
            "{\"user\":\"ann@example.com/token:tok-9f\\/x\"}".to_string(),
            "q=tok-9f%2Fx".to_string(),
        ] {
            let out = basic.apply(&echo);
            assert!(!out.contains("tok-9f") && !out.contains(&b64), "{out}");
            assert!(out.contains("[redacted]"), "{out}");
        }
        let bearer = Redactor::new(&Auth::Bearer(Secret::new("tok-123")));
        assert_eq!(
            bearer.apply("{\"error\":\"Invalid API key: Bearer tok-123\"}"),
            "{\"error\":\"Invalid API key: Bearer [redacted]\"}"
        );
        // Too short to be a secret: the vendor's text stays readable.
        let short = Redactor::new(&Auth::Bearer(Secret::new("k")));
        assert_eq!(short.apply("token revoked"), "token revoked");
    }

    #[test]
    fn documented_hosts_match_one_label_per_star() {
        let z = ["*.zendesk.com"];
        assert!(host_matches(&z, "acme.zendesk.com"));
        assert!(host_matches(&z, "ACME.zendesk.com."));
        assert!(!host_matches(&z, "a.b.zendesk.com"));
        assert!(!host_matches(&z, "zendesk.com"));
        assert!(!host_matches(&z, "acme.zendesk.com.evil.example"));
        assert!(!host_matches(&z, "evilzendesk.com"));
        assert!(host_matches(&["rest.*.braze.eu"], "rest.fra-01.braze.eu"));
        assert!(host_matches(&["api-*.example"], "api-eu.example"));
        assert!(!host_matches(&["api-*.example"], "api-.example"));
    }
}
