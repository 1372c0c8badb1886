//! The command line: common options once (here), each vendor's own options in
//! its file under `services/`; the subcommands come from the registry.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, ArgMatches, Args, Command, FromArgMatches, ValueEnum};

use crate::model::Rate;
use crate::services::{Entry, REGISTRY};
use crate::units::{parse_duration, parse_rate};

/// The purge command line: every vendor of [`REGISTRY`] as a subcommand with its
/// own flags and the [`Common`] ones, plus `completions`.
pub fn command() -> Command {
    let mut cmd = Command::new("purge")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Erase people in bulk from SaaS tools through their deletion APIs, one vendor a subcommand")
        .after_help(
            "Exit codes: 0 all done, 1 some failed or invalid, 2 usage/input error (nothing sent), \
3 stopped on a fatal API answer, 75 a rate-limit wait passed --max-wait (resume later), 130 interrupted, \
143 terminated (SIGTERM).",
        )
        .subcommand_required(true)
        .arg_required_else_help(true);
    for e in REGISTRY {
        cmd = cmd.subcommand(vendor_command(e));
    }
    // `about` after `augment_args`, which sets the struct's doc comment as one.
    cmd.subcommand(
        Everywhere::augment_args(Command::new("everywhere"))
            .about("Erase one list of people from every vendor of the configuration file (purge.toml), at once")
            .after_help(
                "The identifiers are e-mail addresses unless a vendor's table sets `kind` (and `column`); the list is \
read once (stdin too) for every vendor. Every vendor's credential is read and, where the run reads anyway, checked \
before anything is deleted anywhere; one confirmation lists them all; the vendors then run at the same time, each within its own \
quotas, into one report. Exit code: the worst of the vendors (3 > 75 > 1 > 0).",
            ),
    )
    .subcommand(
        Verify::augment_args(Command::new("verify"))
            .about("Ask every vendor of a report whether the people it erased still exist; append verified / present / unverifiable")
            .after_help(
                "Vendor settings and credentials come from the configuration file (purge.toml), as for purge everywhere. \
Identifiers whose last outcome is deleted, queued, not_found, present or unverifiable are asked about again; \
verified ones are skipped. Exit 1 if anyone is still present.",
            ),
    )
    .subcommand(
        Init::augment_args(Command::new("init")).about(
            "Write a commented configuration file (purge.toml) with a table for every vendor",
        ),
    )
    .subcommand(
        crate::certificate::Args::augment_args(Command::new("certificate"))
            .about("Write an erasure certificate (HTML or Markdown) from a run's --report file"),
    )
    .subcommand(
        Completions::augment_args(Command::new("completions"))
            .about("Print a shell completion script on stdout"),
    )
}

/// A vendor's subcommand: its own flags and the common ones, described by its
/// registry entry (set last: `augment_args` sets each struct's doc comment as
/// the command's `about`, which would describe every vendor alike).
fn vendor_command(e: &Entry) -> Command {
    Common::augment_args((e.flags)(Command::new(e.name).arg(e.kind_arg())))
        .about(e.about)
        .long_about(None)
        .after_help(e.help())
}

/// The file `purge everywhere` and `purge init` use when no `--config` is given.
pub const DEFAULT_PATH: &str = "purge.toml";

/// `purge verify`.
#[derive(Debug, Clone, Args)]
pub struct Verify {
    /// The report of a purge (one vendor or `everywhere`); verify appends its lines to it
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// The configuration file [default: purge.toml in the working directory]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep asking about the people still present (backing off) until they are gone or this time is up (Braze deletes asynchronously)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `purge everywhere`: the run's own flags; each vendor's come from its table
/// in the configuration file.
#[derive(Debug, Clone, Args)]
pub struct Everywhere {
    /// What to erase (e-mail addresses, unless a table sets `kind`; `-i -` is
    /// read once for every vendor), the one report, confirmation and output
    #[command(flatten)]
    pub run: RunArgs,
    /// The configuration file [default: purge.toml in the working directory]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only check every vendor's credential and endpoint, and print them as a table; send no delete
    #[arg(long, conflicts_with_all = ["dry_run", "resume"])]
    pub check: bool,
    /// Run `purge verify` on the report right after the purge
    #[arg(long, requires = "report")]
    pub verify: bool,
    /// With --verify: keep asking about people still present until this time is up
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "verify")]
    pub wait: Option<Duration>,
}

/// `purge init [--config FILE] [--force]`.
#[derive(Debug, Args)]
pub struct Init {
    /// Where to write the configuration file
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    /// Overwrite the file if it exists
    #[arg(long)]
    pub force: bool,
}

/// `purge completions SHELL`.
#[derive(Debug, Args)]
pub struct Completions {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    Completions(clap_complete::Shell),
    /// Every vendor of the configuration file.
    Everywhere(Box<Everywhere>),
    /// Verify a report's erasures at every vendor.
    Verify(Box<Verify>),
    /// Write the configuration file template.
    Init {
        config: PathBuf,
        force: bool,
    },
    /// Write an erasure certificate from a report.
    Certificate(crate::certificate::Args),
    /// Purge with one vendor: its registry entry, its parsed subcommand (for the
    /// vendor's own flags) and the common flags.
    Purge {
        entry: &'static Entry,
        matches: ArgMatches,
        common: Box<Common>,
    },
}

/// Parse the command line (in-process tests pass their own `args`).
pub fn parse_from<I, T>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    let Some((name, sub)) = matches.subcommand() else {
        return Err(cmd.error(
            clap::error::ErrorKind::MissingSubcommand,
            "name a vendor or a command",
        ));
    };
    if name == "completions" {
        let c = Completions::from_arg_matches(sub)?;
        return Ok(Invocation::Completions(c.shell));
    }
    if name == "everywhere" {
        return Ok(Invocation::Everywhere(Box::new(
            Everywhere::from_arg_matches(sub)?,
        )));
    }
    if name == "verify" {
        return Ok(Invocation::Verify(Box::new(Verify::from_arg_matches(sub)?)));
    }
    if name == "init" {
        let Init { config, force } = Init::from_arg_matches(sub)?;
        return Ok(Invocation::Init { config, force });
    }
    if name == "certificate" {
        return Ok(Invocation::Certificate(
            crate::certificate::Args::from_arg_matches(sub)?,
        ));
    }
    let entry = crate::services::entry(name).ok_or_else(|| {
        cmd.error(
            clap::error::ErrorKind::InvalidSubcommand,
            format!("unknown command {name:?}"),
        )
    })?;
    let common = Common::from_arg_matches(sub)?;
    Ok(Invocation::Purge {
        entry,
        matches: sub.clone(),
        common: Box::new(common),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One identifier a line; blank lines and # comments skipped
    Lines,
    /// CSV (or TSV/semicolon-separated) with a header row
    Csv,
}

/// The flags of a run itself (what to erase, the report, confirmation,
/// output), shared by the vendor subcommands and `purge everywhere`; a
/// configuration file's vendor tables cannot set them.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Identifiers to erase (merged with those of --input files, in order)
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,

    /// Read identifiers from FILE (repeatable; `-` is stdin)
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,

    /// CSV column to read: a header name or a 1-based number
    #[arg(long, value_name = "NAME|N")]
    pub column: Option<String>,

    /// Input format (default: CSV for .csv/.tsv files, --column, or a first line with , tab or ;)
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// CSV input: the column holding each person's request reference (a ticket id), written as `ref` on every report line for that person and listed by the certificate; kept in clear with --hash-ids
    #[arg(long, value_name = "NAME")]
    pub ref_column: Option<String>,

    /// Read, validate and print every request that would be sent; send nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Write per-identifier outcomes to FILE as JSON Lines (mode 0600); it doubles as a checkpoint
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Continue the run recorded in --report FILE: skip identifiers already done
    #[arg(long, requires = "report")]
    pub resume: bool,

    /// Write SHA-256 hex of each identifier instead of the identifier in the report
    #[arg(long)]
    pub hash_ids: bool,

    /// Stop before sending anything if any identifier is invalid
    #[arg(long)]
    pub strict: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a command prints.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Print the summary as one JSON object on stdout
    #[arg(long)]
    pub json: bool,

    /// Print only errors and warnings
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-vv: each request; -vvv: answers too)
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

impl OutputArgs {
    /// The output level: -1 quiet, 0 normal, 1.. `-v` count.
    pub fn verbosity(&self) -> i8 {
        if self.quiet {
            -1
        } else {
            i8::try_from(self.verbose).unwrap_or(i8::MAX)
        }
    }
}

/// Options every vendor has: the run's, and how to reach the vendor.
#[derive(Debug, Clone, Args)]
pub struct Common {
    #[command(flatten)]
    pub run: RunArgs,

    /// Requests in flight at most (default: per vendor)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=512))]
    pub concurrency: Option<u32>,

    /// Client-side cap on requests, e.g. 10/s or 600/min (default: the vendor's quota)
    #[arg(long, value_name = "N/s|N/min", value_parser = parse_rate)]
    pub rate: Option<Rate>,

    /// Attempts per request beyond the first
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_retries: u32,

    /// Longest single rate-limit wait to accept (e.g. 90s, 10m); a longer one stops the run with exit 75
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_wait: Option<Duration>,

    /// Timeout for each HTTP request
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// Override the vendor's endpoint (http:// only for loopback hosts). Only
    /// this flag (or `base-url` in the vendor's table) sends the credential to a
    /// host the vendor does not document: no environment variable does.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Read the credential from FILE instead of the environment
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// The configuration file whose table for this vendor sets its defaults; the command line overrides them [default: purge.toml in the working directory, if there is one]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn each_vendor_help_names_its_credential_and_defaults() {
        let mut cmd = command();
        for (name, var) in [
            ("rally", "RALLY_API_TOKEN"),
            ("braze", "BRAZE_API_KEY"),
            ("gainsight-px", "GAINSIGHT_PX_API_KEY"),
            ("zendesk", "ZENDESK_EMAIL"),
        ] {
            let help = cmd
                .find_subcommand_mut(name)
                .unwrap()
                .render_long_help()
                .to_string();
            for want in [
                var,
                "--token-file",
                "Defaults:",
                "--kind",
                "--concurrency",
                "--max-wait",
            ] {
                assert!(help.contains(want), "{name} --help lacks {want}: {help}");
            }
        }
    }

    #[test]
    fn every_registered_vendor_is_a_subcommand_with_its_own_and_common_flags() {
        for e in REGISTRY {
            // `--kind` is the spec's: its default and each of its kinds.
            let kinds = e.kinds.iter().map(|k| k.kind.as_str());
            for kind in std::iter::once(None).chain(kinds.map(Some)) {
                let mut argv = vec!["purge", e.name, "--dry-run"];
                argv.extend(kind.map(|k| ["-k", k]).into_iter().flatten());
                argv.push("a@b.io");
                let Invocation::Purge {
                    entry,
                    matches,
                    common,
                } = parse_from(argv).unwrap()
                else {
                    panic!("{}: not a purge", e.name)
                };
                assert_eq!(entry.name, e.name);
                assert!(common.run.dry_run);
                assert_eq!(common.run.ids, ["a@b.io"]);
                let want = kind.unwrap_or(e.default_kind.as_str());
                assert_eq!(matches.get_one::<String>("kind").unwrap(), want);
            }
            let other = crate::services::all_kinds()
                .into_iter()
                .find(|k| !e.takes(*k));
            if let Some(k) = other {
                assert!(parse_from(["purge", e.name, "-k", k.as_str(), "x"]).is_err());
            }
        }
        assert!(parse_from(["purge", "mailchimp"]).is_err());
        let e = parse_from(["purge", "rally", "--instance", "eu-01"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        assert!(matches!(
            parse_from(["purge", "completions", "bash"]).unwrap(),
            Invocation::Completions(clap_complete::Shell::Bash)
        ));
    }

    #[test]
    fn init_writes_purge_toml_unless_told_where() {
        let Invocation::Init { config, force } = parse_from(["purge", "init"]).unwrap() else {
            panic!("not init")
        };
        assert_eq!((config, force), (PathBuf::from("purge.toml"), false));
        let Invocation::Init { config, force } =
            parse_from(["purge", "init", "--config", "etc/purge.toml", "--force"]).unwrap()
        else {
            panic!("not init")
        };
        assert_eq!((config, force), (PathBuf::from("etc/purge.toml"), true));
        let e = parse_from(["purge", "init", "--yes"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
