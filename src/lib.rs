//! `purge`: erase people in bulk from SaaS tools through their deletion APIs.
//!
//! Data flows one way: input → plan → engine → vendor adapter → HTTP lane → report.
//! The binary (`src/main.rs`) only calls [`app::main`].

pub mod app;
pub mod cli;
pub mod engine;
pub mod http;
pub mod input;
pub mod output;
pub mod plan;
pub mod report;
pub mod secret;
pub mod vendor;
