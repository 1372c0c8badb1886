//! The companion file of a large certificate (issue #24): past
//! `--inline-people` people, one JSON Lines file beside the certificate holds
//! the per-person rows, and the certificate names it with the SHA-256 of the
//! bytes written (hashed as they are written) and its count of lines.
//!
//! JSON Lines rather than CSV: a person at several vendors is one line (a
//! CSV row a person would need a column group per vendor, or would become one
//! row a vendor outcome); vendor text is hostile, and a spreadsheet runs a CSV
//! cell starting with `=`, `+`, `-` or `@` as a formula, where JSON has no
//! such reading; a spreadsheet stops at 1,048,576 rows anyway; and each line
//! is the JSON certificate's `people` entry, read with the same tools as the
//! report (`jq`, `grep`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Aggregate;

/// The companion file, as the certificate names it.
#[derive(Debug, Clone)]
pub struct RowsFile {
    /// Where it was written.
    pub path: PathBuf,
    /// Its file name, beside the certificate: what the certificate names.
    pub name: String,
    /// SHA-256 hex of its bytes.
    pub sha256: String,
    /// Its lines: one a person.
    pub rows: usize,
    /// The `--inline-people` it was written past.
    pub limit: usize,
}

/// `erasure.html` → `erasure.people.jsonl`, in the same folder.
pub fn path_for(output: &Path) -> PathBuf {
    let mut name = output
        .file_stem()
        .map_or_else(|| "certificate".into(), |s| s.to_os_string());
    name.push(".people.jsonl");
    output.with_file_name(name)
}

/// A writer that hashes exactly the bytes its inner writer accepted.
struct Hashing<W> {
    inner: W,
    digest: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write one JSON line a person (the people `--person` asked for, or
/// everyone) to `file`, streamed; the SHA-256 hex of what was written and
/// the number of lines.
pub fn write(agg: &Aggregate, file: &std::fs::File) -> io::Result<(String, usize)> {
    let mut w = io::BufWriter::with_capacity(
        256 * 1024,
        Hashing {
            inner: file,
            digest: Sha256::new(),
        },
    );
    let rows = agg.for_each_person(&agg.only, |row| {
        serde_json::to_writer(&mut w, row).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })?;
    let hashing = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    Ok((super::hex(&hashing.digest.finalize()), rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_companion_is_named_after_the_certificate_beside_it() {
        assert_eq!(
            path_for(Path::new("out/erasure.html")),
            Path::new("out/erasure.people.jsonl")
        );
        assert_eq!(
            path_for(Path::new("erasure")),
            Path::new("erasure.people.jsonl")
        );
    }

    /// The hash is of the bytes the file accepted, whatever the writes' sizes.
    #[test]
    fn the_hash_is_of_the_bytes_written() {
        let mut h = Hashing {
            inner: Vec::new(),
            digest: Sha256::new(),
        };
        h.write_all(b"{\"a\":1}\n").unwrap();
        h.write_all(b"{\"b\":2}\n").unwrap();
        let digest = super::super::hex(&h.digest.finalize());
        assert_eq!(digest, crate::conceal::sha256_hex("{\"a\":1}\n{\"b\":2}\n"));
        assert_eq!(h.inner, b"{\"a\":1}\n{\"b\":2}\n");
    }
}
