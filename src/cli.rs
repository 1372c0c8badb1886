//! The command line (clap derive): common options once, vendor options per vendor.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::vendor::Rate;

#[derive(Debug, Parser)]
#[command(
    name = "purge",
    version,
    about = "Erase people in bulk from Rally UXR, Braze, Gainsight PX and Zendesk through their deletion APIs",
    after_help = "Exit codes: 0 all done, 1 some failed or invalid, 2 usage/input error (nothing sent), \
3 stopped on a fatal API answer, 75 a rate-limit wait passed --max-wait (resume later), 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rally UXR: POST /people/delete (by e-mail or person id), 100 a request
    Rally(Box<RallyArgs>),
    /// Braze: POST /users/delete (external id, braze id, e-mail, phone or alias), 50 a request
    Braze(Box<BrazeArgs>),
    /// Gainsight PX: DELETE /v1/users/{identifyId}, one person a request (e-mails looked up first)
    #[command(name = "gainsight-px")]
    GainsightPx(Box<GainsightArgs>),
    /// Zendesk: destroy_many jobs (100 users each), job polling, then permanent erasure
    Zendesk(Box<ZendeskArgs>),
    /// Print a shell completion script on stdout
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct RallyArgs {
    /// What the identifiers are
    #[arg(short, long, value_parser = ["email", "id"], default_value = "email")]
    pub kind: String,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct BrazeArgs {
    /// What the identifiers are (alias: LABEL:NAME, or CSV columns alias_label and alias_name)
    #[arg(short, long, value_parser = ["external-id", "braze-id", "email", "phone", "alias"], default_value = "external-id")]
    pub kind: String,
    /// Braze instance: us-01…us-08, us-10, eu-01, eu-02, au-01, id-01, jp-01
    #[arg(long, value_name = "NAME", env = "BRAZE_INSTANCE")]
    pub instance: Option<String>,
    /// Which user to delete when an e-mail or phone matches several
    /// [default: identified,most_recently_updated]
    #[arg(long, value_name = "LIST")]
    pub prioritization: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct GainsightArgs {
    /// What the identifiers are: the identifyId, or an e-mail to look up first
    #[arg(short, long, value_parser = ["id", "email"], default_value = "id")]
    pub kind: String,
    /// Data center: us (api.aptrinsic.com), eu (api-eu.aptrinsic.com), us2 (api-us2.aptrinsic.com)
    #[arg(
        long,
        value_name = "REGION",
        env = "GAINSIGHT_PX_REGION",
        default_value = "us"
    )]
    pub region: String,
    /// Reversible delete (hardDelete=false): revived if the id comes back within 7 days
    #[arg(long)]
    pub soft: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct ZendeskArgs {
    /// What the identifiers are: numeric user ids, external ids, or e-mails to look up first
    #[arg(short, long, value_parser = ["id", "external-id", "email"], default_value = "id")]
    pub kind: String,
    /// The account's subdomain (acme for acme.zendesk.com)
    #[arg(long, value_name = "NAME", env = "ZENDESK_SUBDOMAIN")]
    pub subdomain: Option<String>,
    /// With --kind external-id: 0 for account-scoped users, or a numeric brand id
    #[arg(long, value_name = "N")]
    pub brand_id: Option<String>,
    /// Soft delete only: skip the permanent erasure (Zendesk keeps users recoverable for 30 days)
    #[arg(long)]
    pub soft: bool,
    /// Submit the jobs and report them `queued` without polling (no permanent erasure)
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One identifier a line; blank lines and # comments skipped
    Lines,
    /// CSV (or TSV/semicolon-separated) with a header row
    Csv,
}

/// Options every vendor has.
#[derive(Debug, Args)]
pub struct Common {
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

    /// Override the vendor's endpoint (http:// only for loopback hosts)
    #[arg(long, value_name = "URL", env = "PURGE_BASE_URL")]
    pub base_url: Option<String>,

    /// Read the credential from FILE instead of the environment
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Print the final summary as one JSON object on stdout
    #[arg(long)]
    pub json: bool,

    /// Print only errors and warnings
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-vv: each request; -vvv: answers too)
    #[arg(short, long, action = ArgAction::Count)]
    pub verbose: u8,
}

/// `N/s`, `N/sec`, `N/min`, `N/m` or `N/h`.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let (n, unit) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?}: expected N/s or N/min, e.g. 10/s"))?;
    let count: u32 = n
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("{s:?}: N must be a whole number above 0"))?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => return Err(format!("{s:?}: unknown unit {other:?}; use /s or /min")),
    };
    Ok(Rate { count, per })
}

/// `90s`, `10m`, `1h30m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("{s:?}: must not be negative"));
    }
    humantime::parse_duration(t).map_err(|e| format!("{s:?}: {e} (e.g. 30s, 10m)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rates_and_durations() {
        assert_eq!(parse_rate("10/s").unwrap(), Rate::per_second(10));
        assert_eq!(parse_rate("600/min").unwrap(), Rate::per_minute(600));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("5").is_err());
        assert!(parse_rate("5/week").is_err());
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
