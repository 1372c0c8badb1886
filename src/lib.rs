//! `purge`: erase people in bulk from SaaS tools through their deletion APIs.
//!
//! Data flows one way: input → plan → engine → service adapter → HTTP lane → report.
//! The binary (`src/main.rs`) only calls [`run::main`].

pub mod cli;
pub mod config;
pub mod engine;
pub mod exit;
pub mod http;
pub mod input;
pub mod output;
pub mod plan;
pub mod report;
pub mod run;
pub mod secret;
pub mod services;
