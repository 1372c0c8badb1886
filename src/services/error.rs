//! Errors across the adapter boundary, typed: why a vendor's flags cannot set
//! up a run ([`SetupError`]), why its credential cannot be read
//! ([`CredentialError`]), why it offers no check for some people
//! ([`NoCheck`]), why a job recorded by an earlier run cannot be followed
//! ([`CannotFollow`]), and why its preflight answer refuses the credential
//! ([`Refused`]). Each says what went wrong and what to do; the callers read
//! their fields (which flag, which kind) rather than searching the text.
//! Where the token file is named differs between the command line
//! (`--token-file FILE`) and a vendor's table in `purge.toml`
//! (`token-file = "FILE"`), so a credential error is rendered for the place it
//! came from ([`CredentialError::in_table`]) rather than re-worded.

use std::fmt;
use std::path::PathBuf;

use super::TOKEN_FILE_MAX;
use crate::model::Kind;

/// Why a vendor's flags cannot set up a run ([`super::spec::Entry::setup`]).
/// [`SetupError::flag`] names the flag to blame, so `purge.toml` points at the
/// line of its key.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// clap could not read the vendor's flags back.
    #[error("{0}")]
    Flags(String),
    /// A named place (an instance, a region) the vendor does not have.
    #[error("unknown {what} {name:?}; valid: {valid}")]
    UnknownPlace {
        flag: &'static str,
        what: &'static str,
        name: String,
        valid: String,
    },
    /// A value the flag cannot take: why, and what to pass.
    #[error("--{flag} {value:?}: {why}")]
    Value {
        flag: &'static str,
        value: String,
        why: String,
    },
    /// The flag was given empty.
    #[error("--{flag} is empty: {what}")]
    Empty {
        flag: &'static str,
        what: &'static str,
    },
    /// The flag does not apply to the kind of identifier chosen.
    #[error("--{flag} applies to --kind {applies}, not --kind {kind}{then}")]
    NotForKind {
        flag: &'static str,
        kind: Kind,
        /// The kinds it applies to, and why.
        applies: &'static str,
        /// What happens without it, if worth saying (starts with `: `).
        then: &'static str,
    },
}

impl SetupError {
    /// The flag (without `--`) the error is about, if one.
    pub fn flag(&self) -> Option<&'static str> {
        match self {
            SetupError::Flags(_) => None,
            SetupError::UnknownPlace { flag, .. }
            | SetupError::Value { flag, .. }
            | SetupError::Empty { flag, .. }
            | SetupError::NotForKind { flag, .. } => Some(flag),
        }
    }
}

/// Why a vendor offers no way to ask whether these people are gone
/// ([`super::Verify::verify_start`]): they end `unverifiable` with it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoCheck {
    /// The vendor documents no read for identifiers of this kind: why, and
    /// what to do.
    #[error("{why}")]
    Kind { kind: Kind, why: &'static str },
    /// This identifier cannot be put into the vendor's read.
    #[error("{0}")]
    Identifier(&'static str),
    /// The proof is the job a purge recorded, and the report has none.
    #[error("no {job} is recorded for these people: {why}")]
    NoJob {
        job: &'static str,
        why: &'static str,
    },
}

/// Why a job that an earlier run recorded as pending cannot be followed
/// ([`super::Service::resume_job`]): the run stops before sending anything.
#[derive(Debug, thiserror::Error)]
#[error(
    "the report has {kind} identifiers pending in job {job} without {missing}, so the job cannot be followed safely: {then}"
)]
pub struct CannotFollow {
    pub kind: Kind,
    pub job: String,
    /// What the pending lines lack.
    pub missing: &'static str,
    /// Why that matters, and what to do.
    pub then: &'static str,
}

/// Why a vendor's answer to its preflight read ([`super::Service::preflight`])
/// refuses the credential: the run stops with nothing deleted (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The vendor answered as if no credential had been given.
    #[error("{said}: the credential was not accepted; {check}")]
    NotAccepted {
        said: &'static str,
        check: &'static str,
    },
    /// The credential is someone's who may not delete people.
    #[error("the credential is {who}: {needs}")]
    NotAllowed { who: String, needs: &'static str },
}

/// Why a vendor's credential cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The variable is unset or blank, and no token file was given.
    #[error(
        "{var} is not set: export it, or pass --token-file FILE (or try --dry-run, which needs no credential)"
    )]
    NotSet { var: String },
    /// The token file given cannot be the credential.
    #[error("--token-file {}: {problem}", path.display())]
    TokenFile {
        path: PathBuf,
        problem: TokenFileProblem,
    },
    /// A credential of several parts is incomplete (an e-mail without its API
    /// token): what is missing, and the ways to give it, written with `{token-file}`
    /// where the token file's name goes.
    #[error("{}", .0.replace(TOKEN_FILE, "--token-file FILE"))]
    Incomplete(String),
}

/// Where [`CredentialError::Incomplete`]'s text names the token file.
pub const TOKEN_FILE: &str = "{token-file}";

impl CredentialError {
    /// The error as a command configured by `purge.toml` says it: the token
    /// file is `token-file` in the vendor's table there.
    pub fn in_table(&self, vendor: &str) -> String {
        let table = format!("token-file = \"FILE\" in [{vendor}]");
        match self {
            CredentialError::NotSet { var } => format!(
                "{var} is not set: export it, or set {table} (or try --dry-run, which needs no credential)"
            ),
            CredentialError::TokenFile { path, problem } => {
                format!("token-file {} in [{vendor}]: {problem}", path.display())
            }
            CredentialError::Incomplete(text) => text.replace(TOKEN_FILE, &table),
        }
    }
}

/// Why a token file is not a credential.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileProblem {
    #[error("cannot read: {0}")]
    Unreadable(std::io::Error),
    #[error("is {0}; give a file that holds only the token")]
    NotAFile(FileType),
    #[error("{0} bytes is not a token (at most {max} KiB); give a file that holds only the token", max = TOKEN_FILE_MAX / 1024)]
    TooLarge(u64),
    #[error("grew past {max} KiB while read; give a file that holds only the token", max = TOKEN_FILE_MAX / 1024)]
    Grew,
    #[error("is not UTF-8 text")]
    NotUtf8,
    #[error("the file is empty")]
    Empty,
}

/// What a token file that is not a regular file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Directory,
    /// A pipe, socket or device.
    Special,
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileType::Directory => "a directory",
            FileType::Special => "not a regular file (a pipe, socket or device)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same error, said for the place the token file is named in.
    #[test]
    fn a_credential_error_names_the_token_file_where_it_is_given() {
        let unset = CredentialError::NotSet {
            var: "X_TOKEN".into(),
        };
        assert!(unset.to_string().contains("or pass --token-file FILE"));
        assert!(
            unset
                .in_table("x")
                .contains("or set token-file = \"FILE\" in [x]")
        );
        let file = CredentialError::TokenFile {
            path: "t.txt".into(),
            problem: TokenFileProblem::NotAFile(FileType::Directory),
        };
        assert_eq!(
            file.to_string(),
            "--token-file t.txt: is a directory; give a file that holds only the token"
        );
        assert!(
            file.in_table("x")
                .starts_with("token-file t.txt in [x]: is a directory")
        );
        let part = CredentialError::Incomplete(format!("set A and B (or {TOKEN_FILE})"));
        assert_eq!(part.to_string(), "set A and B (or --token-file FILE)");
        assert_eq!(
            part.in_table("x"),
            "set A and B (or token-file = \"FILE\" in [x])"
        );
    }
}
