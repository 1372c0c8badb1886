//! The plan: identifiers chunked into each vendor's first requests, and the
//! dry-run listing of exactly what would go on the wire, a request a line.

use std::io::Write;
use std::sync::Arc;

use url::Url;

use crate::http::full_url;
use crate::services::{Ident, Kind, Request, Service, Work};

/// Chunk identifiers into the vendor's first requests.
pub fn plan(
    vendor: Arc<dyn Service>,
    kind: Kind,
    idents: Vec<Ident>,
) -> impl Iterator<Item = Work> {
    let limit = vendor.batch_limit(kind).max(1);
    let mut it = idents.into_iter().peekable();
    std::iter::from_fn(move || {
        it.peek()?;
        let batch: Vec<Ident> = it.by_ref().take(limit).collect();
        Some(vendor.start(kind, batch))
    })
}

/// Print one planned request (method, URL, JSON body) as a line: as text
/// (`POST https://… {"emails":[…]}`), or with `json` naming the vendor, as
/// JSON Lines (`{"vendor","method","url","body"}`). Credentials travel in
/// headers, which are not printed.
pub fn print_request(
    base: &Url,
    req: &Request,
    out: &mut impl Write,
    json: Option<&str>,
) -> std::io::Result<()> {
    let url = full_url(base, req);
    if let Some(vendor) = json {
        let line = serde_json::json!({
            "vendor": vendor,
            "method": req.method.as_str(),
            "url": url,
            "body": req.body,
        });
        return writeln!(out, "{line}");
    }
    write!(out, "{} {url}", req.method.as_str())?;
    if let Some(body) = &req.body {
        out.write_all(b" ")?;
        // Straight to the writer: `{body}` would go through `fmt` a piece at a time.
        serde_json::to_writer(&mut *out, body)?;
    }
    writeln!(out)
}
