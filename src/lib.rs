//! kronjob: a drop-in Kubernetes `batch/v1` CronJob controller.
//!
//! Functional core, imperative shell: [`schedule`] and [`planner`] are pure
//! functions of (CronJob, owned Jobs, now); the controller only feeds them and
//! carries out their plan.

pub mod api_metrics;
pub mod cli;
pub mod client;
pub mod controller;
#[cfg(test)]
mod cpu_clock;
pub mod crd;
pub mod explain;
pub mod failpoints;
pub mod health;
pub mod http;
pub mod leader;
pub mod lookup;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod objects;
pub mod planner;
pub mod run_now_cli;
pub mod schedule;
pub mod telemetry;
