//! Errors across the adapter boundary, typed: why a vendor's credential cannot
//! be read. Each says what went wrong and what to do; where the token file is
//! named differs between the command line (`--token-file FILE`) and a vendor's
//! table in `purge.toml` (`token-file = "FILE"`), so the error is rendered for
//! the place it came from ([`CredentialError::in_table`]) rather than re-worded.

use std::fmt;
use std::path::PathBuf;

use super::TOKEN_FILE_MAX;

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
