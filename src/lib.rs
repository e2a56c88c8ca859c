//! Watershed's wiring: which adapters serve which ports in each target, the command line, the
//! device simulator and the benchmarks. Application logic lives in the workspace crates.

pub mod adapters;
pub mod alert_actions;
pub mod alert_rules;
pub mod analysts;
pub mod app;
pub mod bench;
pub mod cli;
pub mod dead_letters;
pub mod device_limits;
pub mod devices;
mod health;
pub mod models;
pub mod progress;
pub mod prometheus;
pub mod rebuild;
pub mod secret_files;
mod secret_url;
pub mod simulate;
pub mod sinks;
pub mod telemetry;
mod tokens;
mod web;
pub mod webhooks;
