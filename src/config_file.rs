//! The configuration file of `purge everywhere` (`purge.toml`): one table per
//! vendor the organisation uses, named like its subcommand, whose keys are that
//! subcommand's long flags. Each table becomes the argv of `purge <vendor>` and
//! is parsed by the same clap command as the command line, so a value is valid
//! here exactly when it is valid there. Credentials never go in the file.

use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Args, Command};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::cli::{self, Common, Invocation};
use crate::services::{Entry, REGISTRY};

pub use crate::cli::DEFAULT_PATH;

/// Common flags that belong to the command line of a run (what to erase, the
/// report, confirmation, output), not to a vendor's table.
const RUN_FLAGS: &[&str] = &[
    "ids", "input", "report", "resume", "yes", "dry-run", "json", "quiet", "verbose", "hash-ids",
    "strict", "config",
];

/// One vendor's table, parsed as `purge <vendor>` would parse its flags.
#[derive(Debug)]
pub struct VendorConfig {
    pub entry: &'static Entry,
    /// The vendor's subcommand matches (for `entry.setup`). A value set in the
    /// table has `value_source` `CommandLine`; one from clap's defaults or the
    /// environment (`BRAZE_INSTANCE`, `PURGE_BASE_URL`, …) says so.
    pub matches: ArgMatches,
    /// The common flags of the table (the run's own flags are left at their defaults).
    pub common: Common,
    /// The line of the table's `[name]`.
    pub line: usize,
    /// The table as flags (`--key=value`, token files made absolute), without
    /// the kind `purge everywhere` adds when the table sets none.
    pub flags: Vec<String>,
    /// Why `purge everywhere` leaves this vendor out: its table sets no kind
    /// and the vendor cannot look people up by e-mail.
    pub left_out: Option<String>,
}

/// A loaded configuration file: its vendors in file order.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub vendors: Vec<VendorConfig>,
    /// The `[certificate]` table: who the certificate names.
    pub certificate: CertificateTable,
}

/// `[certificate]`: the data controller and a contact, named on the
/// certificate's first page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateTable {
    pub controller: Option<String>,
    pub contact: Option<String>,
}

/// The keys `[certificate]` takes.
const CERTIFICATE_KEYS: &[&str] = &["controller", "contact"];

/// Why the configuration file cannot be used (or written). Nothing was sent:
/// `RunError::Config` maps it to the usage exit code (2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no {DEFAULT_PATH} in this directory: write one with `purge init`, or pass --config FILE"
    )]
    NotFound,
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{} exists already: edit it, or pass --force to overwrite it", path.display())]
    Exists { path: PathBuf },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Read and check `path` (default [`DEFAULT_PATH`] in the working directory).
pub fn load(path: Option<&Path>) -> Result<ConfigFile, ConfigError> {
    let given = path.is_some();
    let path = path.map_or_else(|| PathBuf::from(DEFAULT_PATH), Path::to_path_buf);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !given => {
            return Err(ConfigError::NotFound);
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let (vendors, certificate) = parse(&text, &path)?;
    Ok(ConfigFile {
        path,
        vendors,
        certificate,
    })
}

/// The file's text and where it came from, for errors that say `file:line`.
struct Doc<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Doc<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn at(&self, span: Range<usize>, message: String) -> ConfigError {
        ConfigError::At {
            path: self.path.to_path_buf(),
            line: self.line(&span),
            message,
        }
    }

    fn file(&self, message: String) -> ConfigError {
        ConfigError::File {
            path: self.path.to_path_buf(),
            message,
        }
    }
}

/// Entries of a TOML table in file order (the parsed map is sorted by key).
fn in_file_order<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(
    &'t Spanned<toml::de::DeString<'i>>,
    &'t Spanned<DeValue<'i>>,
)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// `[certificate]`: its string keys; anything else refused at its line.
fn certificate_table(doc: &Doc, value: &Spanned<DeValue>) -> Result<CertificateTable, ConfigError> {
    let DeValue::Table(table) = value.get_ref() else {
        return Err(doc.at(
            value.span(),
            "certificate must be a table ([certificate] with controller = \"…\" and contact = \"…\")".into(),
        ));
    };
    let mut out = CertificateTable::default();
    for (k, v) in in_file_order(table) {
        let key: &str = k.get_ref();
        let slot = match key {
            "controller" => &mut out.controller,
            "contact" => &mut out.contact,
            _ => {
                let hint = did_you_mean(key, CERTIFICATE_KEYS.iter().copied())
                    .map(|n| format!(" (did you mean {n}?)"))
                    .unwrap_or_default();
                return Err(doc.at(
                    k.span(),
                    format!(
                        "[certificate] {key}: unknown key{hint}; valid keys for certificate: {}",
                        CERTIFICATE_KEYS.join(", ")
                    ),
                ));
            }
        };
        let DeValue::String(s) = v.get_ref() else {
            return Err(doc.at(
                v.span(),
                format!(
                    "[certificate] {key} must be text in quotes, not a {}",
                    v.get_ref().type_str()
                ),
            ));
        };
        *slot = Some(s.to_string());
    }
    Ok(out)
}

fn parse(text: &str, path: &Path) -> Result<(Vec<VendorConfig>, CertificateTable), ConfigError> {
    let doc = Doc { path, text };
    // toml's own rendering quotes the offending line, which may hold a secret:
    // only its message and line are shown.
    let root = DeTable::parse(text).map_err(|e| {
        let message = format!("not valid TOML: {}", e.message().trim_end());
        match e.span() {
            Some(span) => doc.at(span, message),
            None => doc.file(message),
        }
    })?;
    // Relative token files are read from the configuration file's folder.
    let folder = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut vendors = vec![];
    let mut certificate = CertificateTable::default();
    for (name, value) in in_file_order(root.get_ref()) {
        let key: &str = name.get_ref();
        if key == "certificate" {
            certificate = certificate_table(&doc, value)?;
            continue;
        }
        if crate::services::sounds_secret(key) {
            return Err(doc.at(
                name.span(),
                format!(
                    "{key}: credentials never go in this file (its value is not shown); \
                     each vendor reads its own from the environment or from token-file = \"FILE\" in its table \
                     (`purge VENDOR --help` names the variable)"
                ),
            ));
        }
        let Some(entry) = crate::services::entry(key) else {
            let message = if matches!(value.get_ref(), DeValue::Table(_)) {
                let hint = did_you_mean(key, REGISTRY.iter().map(|e| e.name))
                    .map(|n| format!(" (did you mean [{n}]?)"))
                    .unwrap_or_default();
                format!("[{key}] is not a vendor{hint}; valid: {}", vendor_names())
            } else {
                format!(
                    "{key} is outside any vendor table: settings go in their vendor's table ({})",
                    vendor_names()
                )
            };
            return Err(doc.at(name.span(), message));
        };
        let DeValue::Table(table) = value.get_ref() else {
            return Err(doc.at(
                name.span(),
                format!(
                    "{key} must be a table ([{key}] and its settings below it), not a {}",
                    value.get_ref().type_str()
                ),
            ));
        };
        vendors.push(vendor(&doc, entry, &name.span(), table, &folder)?);
    }
    if vendors.is_empty() {
        return Err(doc.file(format!(
            "no vendor tables (the file is empty or all commented out): add a table for each vendor you use, \
             one of {} (`purge init` writes a template with all of them)",
            vendor_names()
        )));
    }
    Ok((vendors, certificate))
}

/// The valid name closest to a misspelt one (`zendsek` → `zendesk`), if any
/// is close: clap's measure for its own suggestions (Jaro similarity above 0.7).
fn did_you_mean<'a>(word: &str, valid: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    valid
        .map(|v| (strsim::jaro(word, v), v))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// `[rally], [braze], …`
fn vendor_names() -> String {
    REGISTRY
        .iter()
        .map(|e| format!("[{}]", e.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keys a vendor's table may hold: the long flags of its subcommand, less
/// those of the run's command line.
fn table_args(sub: &Command) -> Vec<&Arg> {
    sub.get_arguments()
        .filter(|a| {
            a.get_long().is_some_and(|l| !RUN_FLAGS.contains(&l))
                && !a.is_hide_set()
                && !matches!(
                    a.get_action(),
                    ArgAction::Help
                        | ArgAction::HelpShort
                        | ArgAction::HelpLong
                        | ArgAction::Version
                )
        })
        .collect()
}

/// Where the vendor's credential goes, worded for this file.
pub fn credential_hint(entry: &Entry) -> String {
    entry.credential.describe("token-file = \"FILE\"")
}

/// One vendor's table → `purge <vendor> --key=value …` → clap's matches.
fn vendor(
    doc: &Doc,
    entry: &'static Entry,
    span: &Range<usize>,
    table: &DeTable,
    folder: &Path,
) -> Result<VendorConfig, ConfigError> {
    let name = entry.name;
    let (mut argv, keys) = table_argv(doc, entry, table, folder)?;
    // A person is erased everywhere by e-mail unless the table says otherwise
    // (every vendor resolves an e-mail its own way).
    let flags = argv[2..].to_vec();
    let mut left_out = None;
    if !keys.iter().any(|(k, _)| *k == "kind") {
        match everywhere_kind(entry) {
            Ok(flag) => argv.push(flag.to_string()),
            Err(why) => left_out = Some(why),
        }
    }
    let (entry, matches, common) = match cli::parse_from(&argv) {
        Ok(Invocation::Purge {
            entry,
            matches,
            common,
        }) => (entry, matches, common),
        Ok(other) => unreachable!("a vendor's argv parsed as {other:?}"),
        Err(e) => return Err(from_clap(doc, name, span, &keys, &e)),
    };
    vendor_checks(doc, span, &keys, entry, &matches, &common)?;
    Ok(VendorConfig {
        entry,
        matches,
        common: *common,
        line: doc.line(span),
        flags,
        left_out,
    })
}

/// A key of a vendor's table and where it is written.
type Key<'t> = (&'t str, Range<usize>);

/// A vendor's table as the argv of its subcommand (`purge NAME --key=value …`),
/// and its keys with their place; a key that is a credential, a run flag or
/// unknown is refused at its line.
fn table_argv<'t>(
    doc: &Doc,
    entry: &'static Entry,
    table: &'t DeTable,
    folder: &Path,
) -> Result<(Vec<String>, Vec<Key<'t>>), ConfigError> {
    let name = entry.name;
    let cmd = cli::command();
    let sub = cmd
        .find_subcommand(name)
        .expect("every registry entry is a subcommand");
    let args = table_args(sub);
    let mut argv = vec!["purge".to_string(), name.to_string()];
    let mut keys: Vec<(&str, Range<usize>)> = vec![];
    for (k, v) in in_file_order(table) {
        let key: &str = k.get_ref();
        let at = |message: String| doc.at(k.span(), format!("[{name}] {key}: {message}"));
        if entry.is_secret_key(key) {
            return Err(at(format!(
                "credentials never go in this file (its value is not shown): give {name}'s as {}",
                credential_hint(entry)
            )));
        }
        if RUN_FLAGS.contains(&key) {
            return Err(at(format!(
                "belongs on the command line (it applies to the whole run), not in a vendor's table; \
                 valid keys here: {}",
                valid_keys(&args)
            )));
        }
        let Some(arg) = args.iter().find(|a| a.get_long() == Some(key)) else {
            let hint = did_you_mean(
                &key.replace('_', "-"),
                args.iter().filter_map(|a| a.get_long()),
            )
            .map(|k| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
            return Err(at(format!(
                "unknown key{hint}; valid keys for {name}: {}",
                valid_keys(&args)
            )));
        };
        let resolve = |s: &str| -> String {
            if key == "token-file" {
                folder.join(s).display().to_string()
            } else {
                s.to_string()
            }
        };
        push_value(&mut argv, key, arg, v, &resolve)
            .map_err(|(span, message)| doc.at(span, format!("[{name}] {key}: {message}")))?;
        keys.push((key, k.span()));
    }
    Ok((argv, keys))
}

/// The checks a parse cannot make, each refused at the line of the key it names.
fn vendor_checks(
    doc: &Doc,
    span: &Range<usize>,
    keys: &[(&str, Range<usize>)],
    entry: &'static Entry,
    matches: &clap::ArgMatches,
    common: &Common,
) -> Result<(), ConfigError> {
    let name = entry.name;
    // The vendor's own checks (an instance or region name, a flag that needs a
    // kind), on the line of the key of the flag the error is about, else the table's.
    if let Err(why) = entry.resolve(matches) {
        let named = keys.iter().find(|(k, _)| Some(*k) == why.flag());
        return Err(match named {
            Some((k, s)) => doc.at(s.clone(), format!("[{name}] {k}: {why}")),
            None => doc.at(span.clone(), format!("[{name}]: {why}")),
        });
    }
    // The base-URL rule (https, or http for loopback) is the run's; checked
    // here too so a bad one is refused with its line.
    if let (Some(url), Some((k, s))) = (
        &common.base_url,
        keys.iter().find(|(k, _)| *k == "base-url"),
    ) {
        crate::http::check_base_url(url)
            .map_err(|why| doc.at(s.clone(), format!("[{name}] {k}: {why}")))?;
    }
    Ok(())
}

/// `purge everywhere` erases people by e-mail at every vendor whose table sets
/// no kind: the flag that says so, or why the vendor is left out of the run (it
/// cannot look people up by e-mail).
fn everywhere_kind(entry: &Entry) -> Result<&'static str, String> {
    if entry.looks_up_email() {
        return Ok("--kind=email");
    }
    Err(format!(
        "left out: {} cannot look people up by e-mail address, and its table sets no kind; \
         to erase its own identifiers in the same run, set kind = \"{}\" (and column) in its table",
        entry.name, entry.default_kind
    ))
}

/// `purge VENDOR …` with its table of the configuration file applied.
#[derive(Debug)]
pub struct Applied {
    pub matches: ArgMatches,
    pub common: Common,
    /// `purge.toml:3 [zendesk]`, for messages.
    pub place: String,
}

/// The one place a vendor command's settings are put together: its table of
/// the configuration file (`--config FILE`, else `purge.toml` in the working
/// directory when there is one) under its command line. As in cargo's
/// configuration, the command line overrides the file key by key: the table's
/// flags the command line does not give go before the command line's
/// (`purge VENDOR <table's> <command line's>`, parsed as one); a switch the
/// file turns on stays on. A table key that does not apply to what the command
/// line chose (`lookup-rate` with `-k external-id`) is left out, with a warning.
/// `cli` is the command line's own parse, `args` the command line itself
/// (`argv[0]` first). `None`: no file, or (the working directory's) without a
/// table for the vendor.
pub fn for_vendor(
    entry: &'static Entry,
    cli: &ArgMatches,
    config: Option<&Path>,
    args: &[std::ffi::OsString],
) -> Result<Option<Applied>, String> {
    let Some((vc, path)) = vendor_table(entry, config)? else {
        return Ok(None);
    };
    let place = format!("{}:{} [{}]", path.display(), vc.line, entry.name);
    let given = given_on_command_line(entry, cli);
    let mut flags: Vec<&String> = vc
        .flags
        .iter()
        .filter(|f| !given.contains(&flag_key(f)))
        .collect();
    let at = args
        .iter()
        .skip(1)
        .position(|a| a == entry.name)
        .map_or(args.len(), |i| i + 2);
    loop {
        let mut argv: Vec<std::ffi::OsString> = vec!["purge".into(), entry.name.into()];
        argv.extend(flags.iter().map(|f| std::ffi::OsString::from(f.as_str())));
        argv.extend(args[at.min(args.len())..].iter().cloned());
        let (matches, common) = match cli::parse_from(argv) {
            Ok(Invocation::Purge {
                matches, common, ..
            }) => (matches, *common),
            Ok(other) => unreachable!("a vendor's argv parsed as {other:?}"),
            Err(e) => {
                let text = e.render().to_string();
                return Err(format!(
                    "{} (with {place} applied)",
                    text.trim_start_matches("error: ").trim_end()
                ));
            }
        };
        let Err(why) = entry.resolve(&matches) else {
            return Ok(Some(Applied {
                matches,
                common,
                place,
            }));
        };
        // The table key of the flag the vendor's refusal is about goes; else
        // the two cannot be put together.
        let named = flags
            .iter()
            .position(|f| why.flag() == Some(flag_key(f).as_str()));
        let Some(i) = named else {
            return Err(format!(
                "{why} (with {place} applied; the command line overrides its keys)"
            ));
        };
        crate::output::warn(&format!("{place} {}: left out: {why}", flag_key(flags[i])));
        flags.remove(i);
    }
}

/// The table of `entry` in the configuration file, and the file's path.
fn vendor_table(
    entry: &Entry,
    config: Option<&Path>,
) -> Result<Option<(VendorConfig, PathBuf)>, String> {
    let implicit = config.is_none();
    if implicit && !Path::new(DEFAULT_PATH).exists() {
        return Ok(None);
    }
    let file = load(config).map_err(|e| e.to_string())?;
    let names: Vec<String> = file
        .vendors
        .iter()
        .map(|v| format!("[{}]", v.entry.name))
        .collect();
    match file
        .vendors
        .into_iter()
        .find(|v| v.entry.name == entry.name)
    {
        Some(vc) => Ok(Some((vc, file.path))),
        None if implicit => Ok(None),
        None => Err(format!(
            "{}: no [{}] table (it has {}): add one, or leave out --config",
            file.path.display(),
            entry.name,
            names.join(", ")
        )),
    }
}

/// The long flags the command line gave itself (not clap's defaults, not the environment).
fn given_on_command_line(entry: &Entry, cli: &ArgMatches) -> Vec<String> {
    let cmd = cli::command();
    let Some(sub) = cmd.find_subcommand(entry.name) else {
        return vec![];
    };
    sub.get_arguments()
        .filter(|a| {
            cli.value_source(a.get_id().as_str()) == Some(clap::parser::ValueSource::CommandLine)
        })
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// `--key=value` or `--key` → `key`.
fn flag_key(flag: &str) -> String {
    flag.trim_start_matches("--")
        .split('=')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn valid_keys(args: &[&Arg]) -> String {
    args.iter()
        .filter_map(|a| a.get_long())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Append one key's value as the flag clap expects: `true` → `--flag`, `false`
/// → nothing, a string or number → `--flag=value`, an array → the flag
/// repeated (or one delimited value). Errors carry the value's span.
fn push_value(
    argv: &mut Vec<String>,
    key: &str,
    arg: &Arg,
    value: &Spanned<DeValue>,
    resolve: &dyn Fn(&str) -> String,
) -> Result<(), (Range<usize>, String)> {
    let bad = |message: String| Err((value.span(), message));
    if !arg.get_action().takes_values() {
        return match value.get_ref() {
            DeValue::Boolean(true) => {
                argv.push(format!("--{key}"));
                Ok(())
            }
            DeValue::Boolean(false) => Ok(()),
            other => bad(format!(
                "is a switch: write {key} = true or false, not a {}",
                other.type_str()
            )),
        };
    }
    let scalar = |v: &Spanned<DeValue>| -> Result<String, (Range<usize>, String)> {
        match v.get_ref() {
            DeValue::String(s) => Ok(resolve(s)),
            DeValue::Integer(i) => Ok(i128::from_str_radix(i.as_str(), i.radix())
                .map_or_else(|_| i.to_string(), |n| n.to_string())),
            DeValue::Float(f) => Ok(f.as_str().to_string()),
            other => Err((
                v.span(),
                format!(
                    "takes a value (a string or a number, as after --{key}), not a {}",
                    other.type_str()
                ),
            )),
        }
    };
    match value.get_ref() {
        DeValue::Array(items) => {
            let values = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
            if matches!(arg.get_action(), ArgAction::Append) {
                argv.extend(values.iter().map(|v| format!("--{key}={v}")));
            } else if let Some(d) = arg.get_value_delimiter() {
                argv.push(format!("--{key}={}", values.join(&d.to_string())));
            } else {
                return bad(
                    "takes one value, not an array: write it as after the flag (a list as one string, \"a,b\")"
                        .to_string(),
                );
            }
        }
        _ => argv.push(format!("--{key}={}", scalar(value)?)),
    }
    Ok(())
}

/// clap's refusal of a table's value, on the line of the key it names.
fn from_clap(
    doc: &Doc,
    name: &str,
    table: &Range<usize>,
    keys: &[(&str, Range<usize>)],
    e: &clap::Error,
) -> ConfigError {
    use clap::error::{ContextKind, ContextValue};
    let rendered = e.render().to_string();
    let mut detail = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        detail.push_str(&format!("; valid: {}", valid.join(", ")));
    }
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let long = flag
        .strip_prefix("--")
        .and_then(|f| f.split([' ', '=']).next())
        .unwrap_or_default();
    match keys.iter().find(|(k, _)| *k == long) {
        Some((k, span)) => doc.at(span.clone(), format!("[{name}] {k}: {detail}")),
        None => doc.at(table.clone(), format!("[{name}]: {detail}")),
    }
}

/// The commented file `purge init` writes: every vendor's table, commented out.
pub fn template() -> String {
    let common = Common::augment_args(Command::new("common"));
    let common_keys = valid_keys(&table_args(&common));
    let mut out = format!(
        "# purge configuration: the vendors this organisation erases people from, one table
# each, named like its subcommand. Uncomment the tables of the vendors you use.
#
# A table's keys are the long flags of `purge VENDOR` (`purge VENDOR --help` says
# what each does and its default): the vendor's own, and these:
# {common_keys}.
# What to erase, the report, --yes, --dry-run and output go on the command line.
# `purge VENDOR` reads its table from this file too; its command line overrides it.
#
# kind: `purge everywhere` takes e-mail addresses at every vendor whose table
# sets no kind; `purge VENDOR` on its own takes the default its --help names.
#
# Credentials never go in this file: each vendor reads its own from the
# environment, or from token-file = \"FILE\" (a file holding only the credential,
# mode 0600; a relative path is read from this file's folder).
"
    );
    for e in REGISTRY {
        out.push_str(&format!(
            "\n# [{}]\n# {}\n# Credential: {}.\n{}",
            e.name,
            e.about,
            credential_hint(e),
            e.init
        ));
    }
    out
}

/// Write the template to `path`, refusing to replace a file unless `force`.
pub fn init(path: &Path, force: bool) -> Result<(), ConfigError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write_error = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ConfigError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            write_error(e)
        }
    })?;
    file.write_all(template().as_bytes()).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::Rate;

    fn load_text(text: &str) -> Result<Vec<VendorConfig>, ConfigError> {
        parse(text, Path::new("purge.toml")).map(|(v, _)| v)
    }

    fn error(text: &str) -> String {
        load_text(text).unwrap_err().to_string()
    }

    #[test]
    fn each_table_is_parsed_as_its_vendors_flags_in_file_order() {
        let vendors = load_text(
            r#"
# the vendors we use
[zendesk]
subdomain = "acme"
kind = "external-id"
brand-id = 0
soft = true
no-wait = false

[braze]
instance = "eu-01"
kind = "email"
prioritization = "identified"
rate = "10/s"
concurrency = 8
max-retries = 3
max-wait = "10m"
timeout = 2.5
column = "braze_email"
format = "csv"

[rally]
"#,
        )
        .unwrap();
        let names: Vec<_> = vendors.iter().map(|v| v.entry.name).collect();
        assert_eq!(names, ["zendesk", "braze", "rally"]);
        assert_eq!(
            vendors.iter().map(|v| v.line).collect::<Vec<_>>(),
            [3, 10, 22]
        );
        let z = &vendors[0].matches;
        assert_eq!(z.get_one::<String>("subdomain").unwrap(), "acme");
        assert_eq!(z.get_one::<String>("brand_id").unwrap(), "0");
        assert!(z.get_flag("soft") && !z.get_flag("no_wait"));
        let b = &vendors[1];
        assert_eq!(b.matches.get_one::<String>("kind").unwrap(), "email");
        assert_eq!(b.common.rate, Some(Rate::per_second(10)));
        assert_eq!(b.common.concurrency, Some(8));
        assert_eq!(b.common.max_retries, 3);
        assert_eq!(b.common.max_wait, Some(Duration::from_secs(600)));
        assert_eq!(b.common.timeout, Duration::from_millis(2500));
        assert_eq!(b.common.run.column.as_deref(), Some("braze_email"));
        assert!(b.common.run.ids.is_empty() && !b.common.run.yes && !b.common.run.dry_run);
        // What the table set is told apart from clap's defaults.
        use clap::parser::ValueSource;
        assert_eq!(
            b.matches.value_source("max_retries"),
            Some(ValueSource::CommandLine)
        );
        assert_eq!(
            vendors[2].matches.value_source("max_retries"),
            Some(ValueSource::DefaultValue)
        );
        assert_eq!(
            vendors[2].matches.get_one::<String>("kind").unwrap(),
            "email"
        );
    }

    #[test]
    fn an_unknown_key_names_itself_its_line_and_the_valid_keys() {
        let e = error("[rally]\nkind = \"id\"\ninstance = \"eu-01\"\n");
        assert!(
            e.starts_with("purge.toml:3: [rally] instance: unknown key"),
            "{e}"
        );
        for key in ["kind", "column", "rate", "token-file", "base-url"] {
            assert!(e.contains(key), "{e}");
        }
        assert!(!e.contains("dry-run") && !e.contains("help"), "{e}");
        let e = error("[zendesk]\nbrand_id = 1\n");
        assert!(e.contains("did you mean brand-id?"), "{e}");
    }

    #[test]
    fn the_runs_own_flags_belong_on_the_command_line() {
        for key in ["input", "report", "yes", "dry-run", "hash-ids", "strict"] {
            let e = error(&format!("[braze]\n{key} = true\n"));
            assert!(
                e.starts_with(&format!(
                    "purge.toml:2: [braze] {key}: belongs on the command line"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn the_run_flags_are_flags_of_every_vendor_and_no_table_key_is_a_secret() {
        let cmd = cli::command();
        for e in REGISTRY {
            let sub = cmd.find_subcommand(e.name).unwrap();
            for flag in RUN_FLAGS {
                assert!(
                    sub.get_arguments()
                        .any(|a| a.get_long() == Some(flag) || a.get_id() == *flag),
                    "{flag} is not a flag of {}",
                    e.name
                );
            }
            for arg in table_args(sub) {
                assert!(!e.is_secret_key(arg.get_long().unwrap()), "{arg}");
            }
        }
    }

    #[test]
    fn a_literal_secret_is_refused_without_being_shown() {
        for (text, var) in [
            (
                "[braze]\ninstance = \"eu-01\"\napi-key = \"s3cr3t-value\"\n",
                "BRAZE_API_KEY",
            ),
            ("[rally]\ntoken = \"s3cr3t-value\"\n", "RALLY_API_TOKEN"),
            (
                "[zendesk]\nAPI_TOKEN = \"s3cr3t-value\"\n",
                "ZENDESK_API_TOKEN",
            ),
            (
                "[gainsight-px]\npassword = \"s3cr3t-value\"\n",
                "GAINSIGHT_PX_API_KEY",
            ),
        ] {
            let e = error(text);
            assert!(!e.contains("s3cr3t"), "{e}");
            assert!(
                e.contains(var) && e.contains("token-file = \"FILE\""),
                "{e}"
            );
            assert!(e.contains("credentials never go in this file"), "{e}");
        }
        let e = error("[braze]\ninstance = \"eu-01\"\napi-key = \"s3cr3t-value\"\n");
        assert!(e.starts_with("purge.toml:3: [braze] api-key:"), "{e}");
        // Outside a table, and in a line TOML cannot parse, it is not shown either.
        let e = error("secret = \"s3cr3t-value\"\n");
        assert!(
            e.starts_with("purge.toml:1: secret:") && !e.contains("s3cr3t"),
            "{e}"
        );
        let e = error("[braze]\napi-key = s3cr3t-value\n");
        assert!(
            e.starts_with("purge.toml:2: not valid TOML") && !e.contains("s3cr3t"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_value_names_the_file_line_and_key() {
        let e = error("[braze]\ninstance = \"eu-01\"\nrate = \"fast\"\n");
        assert!(e.starts_with("purge.toml:3: [braze] rate: "), "{e}");
        assert!(e.contains("expected N/s or N/min"), "{e}");
        let e = error("[rally]\nkind = \"phone\"\n");
        assert!(e.starts_with("purge.toml:2: [rally] kind: "), "{e}");
        assert!(e.contains("valid: email, id"), "{e}");
        let e = error("[rally]\n\nconcurrency = 0\n");
        assert!(e.starts_with("purge.toml:3: [rally] concurrency: "), "{e}");
        // The vendor's own checks, on the line of the key they name.
        let e = error("[braze]\nkind = \"external-id\"\nprioritization = \"identified\"\n");
        assert!(
            e.starts_with("purge.toml:3: [braze] prioritization: "),
            "{e}"
        );
        let e = error("[rally]\nkind = \"id\"\nbase-url = \"http://example.com/api\"\n");
        assert!(e.starts_with("purge.toml:3: [rally] base-url: "), "{e}");
        assert!(e.contains("loopback"), "{e}");
        let e = error("[gainsight-px]\nregion = \"mars\"\n");
        assert!(
            e.starts_with("purge.toml:2: [gainsight-px] region: "),
            "{e}"
        );
        assert!(e.contains("us, eu, us2"), "{e}");
    }

    #[test]
    fn a_wrong_type_names_the_file_line_and_key() {
        let e = error("[gainsight-px]\nsoft = \"yes\"\n");
        assert!(
            e.starts_with(
                "purge.toml:2: [gainsight-px] soft: is a switch: write soft = true or false"
            ),
            "{e}"
        );
        let e = error("[zendesk]\nsubdomain = true\n");
        assert!(
            e.starts_with("purge.toml:2: [zendesk] subdomain: takes a value"),
            "{e}"
        );
        let e = error("[rally]\nrate = [\"1/s\", \"2/s\"]\n");
        assert!(
            e.contains("[rally] rate: takes one value, not an array"),
            "{e}"
        );
        let e = error("[rally]\ncolumn = { name = \"x\" }\n");
        assert!(e.contains("not a table"), "{e}");
        let e = error("rally = 3\n");
        assert!(e.contains("rally must be a table"), "{e}");
    }

    #[test]
    fn unknown_tables_empty_files_and_bad_toml_say_what_is_valid() {
        let e = error("[rally]\n[zendsek]\nsubdomain = \"acme\"\n");
        assert!(
            e.starts_with(
                "purge.toml:2: [zendsek] is not a vendor (did you mean [zendesk]?); valid: "
            ),
            "{e}"
        );
        let e = error("[gainsight]\n");
        assert!(e.contains("(did you mean [gainsight-px]?)"), "{e}");
        let e = error("[braze]\ninstanse = \"eu-01\"\n");
        assert!(e.contains("unknown key (did you mean instance?)"), "{e}");
        let e = error("[rally]\n[mailchimp]\nkey-id = 1\n");
        assert!(e.starts_with("purge.toml:2: [mailchimp] is not a vendor; valid: [rally], [braze], [gainsight-px], [zendesk]"), "{e}");
        let e = error("kind = \"email\"\n");
        assert!(e.contains("outside any vendor table"), "{e}");
        for text in ["", "# nothing yet\n"] {
            let e = error(text);
            assert!(e.starts_with("purge.toml: no vendor tables"), "{e}");
            assert!(e.contains("purge init"), "{e}");
        }
        let e = error("[rally]\nkind = \"id\"\n[rally]\n");
        assert!(e.starts_with("purge.toml:3: not valid TOML"), "{e}");
    }

    #[test]
    fn a_relative_token_file_is_read_from_the_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc").join("purge.toml");
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            &path,
            "[rally]\ntoken-file = \"rally-token\"\n[braze]\ntoken-file = \"/run/secrets/braze\"\n",
        )
        .unwrap();
        let config = load(Some(&path)).unwrap();
        assert_eq!(config.path, path);
        assert_eq!(
            config.vendors[0].common.token_file.as_deref(),
            Some(dir.path().join("etc").join("rally-token").as_path())
        );
        assert_eq!(
            config.vendors[1].common.token_file.as_deref(),
            Some(Path::new("/run/secrets/braze"))
        );
        let e = load(Some(&dir.path().join("nope.toml"))).unwrap_err();
        assert!(e.to_string().contains("nope.toml: cannot read"), "{e}");
    }

    /// Trap 3: a vendor that cannot look people up by e-mail is left out of
    /// `purge everywhere`'s e-mail run with the reason, not handed `--kind=email`.
    #[test]
    fn a_vendor_without_e_mail_lookup_is_left_out_with_the_reason() {
        use crate::services::spec::tests::TEST_ENTRY;
        let why = everywhere_kind(&TEST_ENTRY).unwrap_err();
        assert!(why.contains("cannot look people up by e-mail"), "{why}");
        assert!(why.contains("kind = \"id\""), "{why}");
        for e in REGISTRY {
            let want = e.looks_up_email();
            assert_eq!(everywhere_kind(e).is_ok(), want, "{}", e.name);
        }
    }

    #[test]
    fn the_template_names_every_vendor_and_loads_once_uncommented() {
        let t = template();
        assert!(
            matches!(load_text(&t), Err(ConfigError::File { .. })),
            "all commented out"
        );
        let uncommented: String = t
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(k, _)| {
                            k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                        }) =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let vendors = load_text(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(vendors.len(), REGISTRY.len());
        // Every vendor's own flags and credential are in its table.
        let cmd = cli::command();
        for (i, e) in REGISTRY.iter().enumerate() {
            let from = t.find(&format!("# [{}]", e.name)).unwrap();
            let to = REGISTRY
                .get(i + 1)
                .map_or(t.len(), |n| t.find(&format!("# [{}]", n.name)).unwrap());
            let section = &t[from..to];
            for arg in (e.flags)(Command::new("x")).get_arguments() {
                let long = arg.get_long().unwrap();
                assert!(
                    section.contains(long),
                    "[{}] lacks {long}:\n{section}",
                    e.name
                );
            }
            for var in e.credential.vars() {
                assert!(section.contains(var), "{var}:\n{section}");
            }
            assert!(cmd.find_subcommand(e.name).is_some());
        }
        assert!(!t.contains("--token-file"), "{t}");
    }

    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../README.md");
        let from = readme
            .find("## Configuration file")
            .expect("the README section");
        let rest = &readme[from..];
        let start = rest.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + rest[start..].find("```").unwrap();
        let vendors = load_text(&rest[start..end]).unwrap();
        assert!(vendors.len() >= 2);
    }

    #[test]
    fn init_writes_the_template_once_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("purge.toml");
        init(&path, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), template());
        assert!(matches!(
            init(&path, false),
            Err(ConfigError::Exists { .. })
        ));
        std::fs::write(&path, "x").unwrap();
        init(&path, true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), template());
    }
}
