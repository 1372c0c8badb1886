//! `purge`: erase people in bulk from SaaS tools through their deletion APIs.
//!
//! Data flows one way: input → plan → engine → service adapter → HTTP lane → report.
//! The binary (`src/main.rs`) only calls [`run::main`].

pub(crate) mod certificate;
pub(crate) mod cli;
pub(crate) mod conceal;
pub(crate) mod config;
pub(crate) mod config_file;
pub(crate) mod engine;
pub(crate) mod exit;
pub(crate) mod http;
pub mod input;
pub mod model;
pub(crate) mod output;
pub(crate) mod plan;
pub(crate) mod report;
pub mod run;
pub(crate) mod secret;
pub mod services;
pub(crate) mod units;
