//! A vendor described as data: what every consumer (the command line,
//! `purge.toml`, `purge init`, `--check`, `everywhere`, `verify`, the
//! certificate) reads about a vendor instead of naming it. Each vendor's file
//! holds one [`Entry`]; [`super::REGISTRY`] lists them.

use clap::{Arg, ArgMatches, Command};

use super::{KindSpec, Setup, SetupError};
use crate::services::Kind;

/// A vendor in the registry: its subcommand, what it accepts, and how its
/// flags become a [`Setup`].
#[derive(Debug)]
pub struct Entry {
    /// The subcommand and the `vendor` of report lines (`gainsight-px`).
    pub name: &'static str,
    /// One line for `purge --help`.
    pub about: &'static str,
    /// How the credential is given; `--help`, `purge init`, the errors of
    /// `purge.toml` and `--check`'s credential column are derived from it.
    pub credential: CredentialSpec,
    /// The end of `purge <vendor> --help`, after the credential line: defaults
    /// and what the kinds mean.
    pub after_help: &'static str,
    /// The kinds of identifier the vendor takes (`--kind`'s values, in order).
    pub kinds: &'static [KindSpec],
    /// `--kind`'s default for `purge <vendor>`.
    pub default_kind: Kind,
    /// `--kind`'s help: what the kinds are at this vendor.
    pub kind_help: &'static str,
    /// The hosts the vendor documents for its API (`*` is one DNS label). A
    /// credential is sent only to these, to loopback, or to a `--base-url`
    /// written for this vendor (on its command line or in its table).
    pub hosts: &'static [&'static str],
    /// Its commented keys in the file `purge init` writes (`# key = value  # what`
    /// lines that load as they are once uncommented).
    pub init: &'static str,
    /// Flags whose names sound like a credential (`project-token`) but hold a
    /// public identifier: `purge.toml` accepts them. Any other key named like a
    /// credential, or like one of [`Entry::credential`]'s variables, is refused.
    pub public_flags: &'static [&'static str],
    /// What the certificate's legend says about this vendor's outcomes (what a
    /// count or a refusal of it means), one paragraph each.
    pub legend: &'static [&'static str],
    /// What `purge verify` reads to decide whether a person is gone; it
    /// matches [`super::Service::verifier`] (`Proof::Nothing` exactly when it
    /// offers none).
    pub proof: Proof,
    /// Adds the vendor's own flags to its subcommand (a clap `Args::augment_args`);
    /// `--kind` is added from [`Entry::kinds`].
    pub flags: fn(Command) -> Command,
    /// Reads the vendor's flags back from the parsed subcommand, for identifiers
    /// of the kind chosen. Called with no flag given at all by a dry run: a
    /// missing account or place is an [`super::Endpoint::Missing`], not an error.
    pub setup: fn(&ArgMatches, Kind) -> Result<Setup, SetupError>,
}

impl Entry {
    /// Whether `host` is one the vendor documents for its API.
    pub fn documents_host(&self, host: &str) -> bool {
        crate::http::host_matches(self.hosts, host)
    }

    /// Whether the vendor can look people up by e-mail address (`-k email`),
    /// which `purge everywhere` asks of every vendor whose table sets no kind.
    pub fn looks_up_email(&self) -> bool {
        self.takes(Kind::Email)
    }

    /// Whether `--kind` may be `kind`.
    pub fn takes(&self, kind: Kind) -> bool {
        self.kinds.iter().any(|k| k.kind == kind)
    }

    /// The `--kind` flag: its values and default from the spec.
    pub fn kind_arg(&self) -> Arg {
        Arg::new("kind")
            .short('k')
            .long("kind")
            .value_name("KIND")
            .help(self.kind_help)
            .value_parser(clap::builder::PossibleValuesParser::new(
                self.kinds.iter().map(|k| k.kind.as_str()),
            ))
            .default_value(self.default_kind.as_str())
    }

    /// Every environment variable the vendor reads: its credential's, and
    /// those its flags fall back to (`BRAZE_INSTANCE`).
    pub fn env_vars(&self) -> Vec<String> {
        let flags = (self.flags)(Command::new(self.name));
        let of_flags = flags
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|v| v.to_string_lossy().into_owned());
        self.credential
            .vars()
            .map(str::to_string)
            .chain(of_flags)
            .collect()
    }

    /// The whole `after_help` of `purge <vendor> --help`.
    pub fn help(&self) -> String {
        format!(
            "Credential: {}.\n{}",
            self.credential.describe("--token-file FILE"),
            self.after_help
        )
    }

    /// The vendor's [`Setup`] from its parsed subcommand.
    pub fn resolve(&self, m: &ArgMatches) -> Result<Setup, SetupError> {
        let kind = m
            .get_one::<String>("kind")
            .and_then(|k| self.kinds.iter().map(|s| s.kind).find(|s| s.as_str() == k))
            .unwrap_or(self.default_kind);
        (self.setup)(m, kind)
    }

    /// Whether a `purge.toml` key of this vendor's table names a credential
    /// (its value must never be in the file): a key named like one of its
    /// variables, or like a credential and not a declared public flag.
    pub fn is_secret_key(&self, key: &str) -> bool {
        let k = key.to_ascii_lowercase().replace('_', "-");
        let var = self
            .credential
            .vars()
            .any(|v| v.to_ascii_lowercase().replace('_', "-") == k);
        var || (!self.public_flags.contains(&k.as_str()) && sounds_secret(&k))
    }
}

/// What `purge verify` reads at a vendor to decide whether a person is gone.
/// `verify` reads it (a person without a recorded job is not asked about at a
/// vendor whose proof is the job), and the certificate's legend says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Nothing: the vendor offers no way to ask; everyone ends unverifiable.
    Nothing,
    /// The person, asked about again by the identifier given.
    Identifier,
    /// The vendor's own ids the report recorded for the person, each
    /// confirmed with the vendor as still that person's; the identifier given
    /// for anyone without any.
    VendorIds,
    /// The status of the deletion job the report recorded for the person.
    Job,
}

impl Proof {
    /// How `purge verify` asks, for the certificate's legend.
    pub fn says(self) -> &'static str {
        match self {
            Proof::Nothing => {
                "cannot ask this vendor whether a person is gone: every person is unverifiable"
            }
            Proof::Identifier => "asks the vendor about each person by the identifier given",
            Proof::VendorIds => {
                "asks the vendor about the ids of its own that the report recorded for each person (each confirmed as still that person's), and by the identifier given for anyone without any"
            }
            Proof::Job => {
                "reads the status of the deletion job the report recorded for each person (the line's job); a person without one is unverifiable"
            }
        }
    }
}

/// A key named like a credential (`token-file` names where one is, and is fine).
pub fn sounds_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('_', "-");
    k != "token-file"
        && ["token", "secret", "password", "passwd", "key", "credential"]
            .iter()
            .any(|w| k.contains(w))
}

/// An environment variable a vendor reads its credential from.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    pub name: &'static str,
    /// What it must hold, for `--help` (`a REST API key with users.delete`); may be empty.
    pub note: &'static str,
}

/// How a vendor's credential is given.
#[derive(Debug, Clone, Copy)]
pub struct CredentialSpec {
    /// The ways to give it, the usual one first: each a set of variables read
    /// together (an e-mail and its API token).
    pub forms: &'static [&'static [EnvVar]],
    /// The variable whose value `--token-file FILE` (or `token-file` in
    /// `purge.toml`) gives instead; the other variables of its form are still read.
    pub token_file: &'static str,
}

impl CredentialSpec {
    /// Every variable the vendor reads its credential from.
    pub fn vars(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.forms.iter().flat_map(|f| f.iter().map(|v| v.name))
    }

    /// Where the credential goes, in words: `A (note), or B + C (or TOKEN_FILE
    /// holding C; B is still needed)`, `token_file` being how the token file is
    /// named where the text is read (`--token-file FILE`, `token-file = "FILE"`).
    pub fn describe(&self, token_file: &str) -> String {
        self.forms
            .iter()
            .map(|form| self.describe_form(form, token_file))
            .collect::<Vec<_>>()
            .join(", or ")
    }

    fn describe_form(&self, form: &[EnvVar], token_file: &str) -> String {
        let names = form
            .iter()
            .map(|v| match v.note {
                "" => v.name.to_string(),
                note => format!("{} ({note})", v.name),
            })
            .collect::<Vec<_>>()
            .join(" + ");
        if !form.iter().any(|v| v.name == self.token_file) {
            return names;
        }
        let others: Vec<&str> = form
            .iter()
            .map(|v| v.name)
            .filter(|n| *n != self.token_file)
            .collect();
        if others.is_empty() {
            format!("{names}, or {token_file}")
        } else {
            format!(
                "{names} (or {token_file} holding {}; {} still read)",
                self.token_file,
                others.join(" + ")
            )
        }
    }

    /// The usual form's variables, `A + B`, for `--check`'s credential column.
    pub fn usual(&self) -> String {
        self.forms
            .first()
            .map(|f| f.iter().map(|v| v.name).collect::<Vec<_>>().join(" + "))
            .unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::services::{Check, Endpoint};

    /// A vendor that is not one of the four: its key is a public project
    /// token, it takes ids only, and its credential is two variables.
    pub const TEST_ENTRY: Entry = Entry {
        name: "testvendor",
        about: "a test vendor",
        credential: CredentialSpec {
            forms: &[&[
                EnvVar {
                    name: "TV_ACCOUNT",
                    note: "",
                },
                EnvVar {
                    name: "TV_SECRET",
                    note: "a GDPR token",
                },
            ]],
            token_file: "TV_SECRET",
        },
        after_help: "Defaults: --kind id.",
        kinds: &[KindSpec {
            kind: Kind::Id,
            check: Check::Text,
            headers: &["id"],
            pair: None,
        }],
        default_kind: Kind::Id,
        kind_help: "What the identifiers are",
        hosts: &["api.test.invalid"],
        init: "# project-token = \"T\"       # the project's public token\n",
        public_flags: &["project-token"],
        legend: &["Test counts are per project."],
        proof: Proof::Nothing,
        flags: |c| c.arg(Arg::new("project-token").long("project-token")),
        setup: |_, _| Err(SetupError::Flags("no setup in tests".into())),
    };

    #[test]
    fn the_credential_line_is_derived_from_the_variables() {
        assert_eq!(
            TEST_ENTRY.credential.describe("--token-file FILE"),
            "TV_ACCOUNT + TV_SECRET (a GDPR token) (or --token-file FILE holding TV_SECRET; TV_ACCOUNT still read)"
        );
        assert_eq!(TEST_ENTRY.credential.usual(), "TV_ACCOUNT + TV_SECRET");
        assert!(TEST_ENTRY.help().starts_with("Credential: TV_ACCOUNT + "));
        let _ = Endpoint::Url(String::new());
    }

    /// Trap 1: a public identifier named `…-token` is a key of the vendor's
    /// table; the same name at a vendor that does not declare it, and the
    /// vendor's own credential variables, are refused.
    #[test]
    fn a_vendor_declares_which_of_its_keys_are_public() {
        assert!(!TEST_ENTRY.is_secret_key("project-token"));
        assert!(!TEST_ENTRY.is_secret_key("project_token"));
        assert!(TEST_ENTRY.is_secret_key("tv-secret"));
        assert!(TEST_ENTRY.is_secret_key("TV_ACCOUNT"));
        assert!(TEST_ENTRY.is_secret_key("api-key"));
        assert!(!TEST_ENTRY.is_secret_key("token-file"));
        for e in crate::services::REGISTRY {
            let public = e.public_flags.contains(&"project-token");
            assert_eq!(e.is_secret_key("project-token"), !public, "{}", e.name);
        }
    }
}
