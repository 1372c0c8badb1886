//! The run configuration: the command line's common flags resolved once (the
//! way ripgrep turns low-level args into `HiArgs`), so no later phase reads clap.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Common, FormatArg};
use crate::input::{Column, Format};
use crate::model::{LaneSpec, Rate};

/// Where identifiers come from and how they are read.
#[derive(Debug, Clone)]
pub struct InputConfig {
    pub positional: Vec<String>,
    /// `-i FILE`; `-` is stdin.
    pub files: Vec<PathBuf>,
    pub column: Option<Column>,
    /// `--ref-column`: the CSV column of each person's reference.
    pub ref_column: Option<String>,
    pub format: Option<Format>,
    /// Any invalid identifier stops the run before anything is sent.
    pub strict: bool,
    /// Stdin, read once into memory when several vendors read `-i -`
    /// (`purge everywhere`): never a temporary file a kill could leave behind.
    pub stdin: Option<std::sync::Arc<[u8]>>,
}

/// The report file and how it is written.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub path: Option<PathBuf>,
    pub resume: bool,
    pub hash_ids: bool,
}

/// What the user set about sending: quotas, concurrency, retries, waits.
#[derive(Debug, Clone, Copy)]
pub struct SendConfig {
    pub concurrency: Option<usize>,
    pub rate: Option<Rate>,
    pub max_retries: u32,
    pub max_wait: Option<Duration>,
    pub timeout: Duration,
}

impl SendConfig {
    /// A vendor lane's spec with the user's overrides: `--rate` and
    /// `--concurrency` apply to the main lane (index 0); a rate the user set is
    /// kept as set, evenly spaced, and not raised by the vendor's headers.
    pub fn apply(&self, index: usize, spec: &LaneSpec) -> LaneSpec {
        let mut spec = *spec;
        if index == 0 {
            if let Some(rate) = self.rate {
                spec.rate = Some(rate);
                spec.burst = 1;
                spec.follow_limit = None;
            }
            if let Some(n) = self.concurrency {
                spec.concurrency = n;
            }
        }
        spec
    }
}

/// How results are shown.
#[derive(Debug, Clone, Copy)]
pub struct OutputConfig {
    pub json: bool,
    /// -1 quiet, 0 normal, 1.. `-v` count.
    pub verbosity: i8,
}

/// Everything a run needs from the command line, resolved once.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub input: InputConfig,
    pub report: ReportConfig,
    pub send: SendConfig,
    pub output: OutputConfig,
    pub dry_run: bool,
    pub yes: bool,
    pub base_url: Option<String>,
    /// Where `base_url` was written, as the confirmation and `--check` say it.
    pub base_url_origin: String,
    pub token_file: Option<PathBuf>,
    /// The configuration table the vendor's settings came from
    /// (`purge.toml:3 [braze]`), if any, for messages that name a key to set.
    pub table: Option<String>,
}

impl From<Common> for RunConfig {
    fn from(c: Common) -> Self {
        let verbosity = c.run.output.verbosity();
        let r = c.run;
        RunConfig {
            input: InputConfig {
                positional: r.ids,
                files: r.inputs,
                column: r.column.as_deref().map(Column::parse),
                ref_column: r.ref_column,
                format: r.format.map(|f| match f {
                    FormatArg::Lines => Format::Lines,
                    FormatArg::Csv => Format::Csv,
                }),
                strict: r.strict,
                stdin: None,
            },
            report: ReportConfig {
                path: r.report,
                resume: r.resume,
                hash_ids: r.hash_ids,
            },
            send: SendConfig {
                concurrency: c.concurrency.map(|n| n as usize),
                rate: c.rate,
                max_retries: c.max_retries,
                max_wait: c.max_wait,
                timeout: c.timeout,
            },
            output: OutputConfig {
                json: r.output.json,
                verbosity,
            },
            dry_run: r.dry_run,
            yes: r.yes,
            base_url: c.base_url,
            base_url_origin: "set by --base-url".to_string(),
            token_file: c.token_file,
            table: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Invocation, parse_from};

    fn config(args: &[&str]) -> RunConfig {
        match parse_from(args).unwrap() {
            Invocation::Purge { common, .. } => RunConfig::from(*common),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_resolve_once() {
        let c = config(&[
            "purge",
            "rally",
            "-qn",
            "--column",
            "2",
            "--rate",
            "10/s",
            "--max-wait",
            "90s",
            "--concurrency",
            "3",
            "a@b.io",
        ]);
        assert!(c.dry_run && !c.yes);
        assert_eq!(c.output.verbosity, -1);
        assert_eq!(c.input.column, Some(Column::Number(2)));
        assert_eq!(c.send.max_wait, Some(Duration::from_secs(90)));
        let spec = LaneSpec::new("x", Some(Rate::per_minute(600)), 8, None);
        let main = c.send.apply(0, &spec);
        assert_eq!(
            (main.rate, main.concurrency),
            (Some(Rate::per_second(10)), 3)
        );
        let other = c.send.apply(1, &spec);
        assert_eq!((other.rate, other.concurrency), (spec.rate, 8));
        assert_eq!(
            config(&["purge", "rally", "-vv", "x@y.io"])
                .output
                .verbosity,
            2
        );
    }
}
