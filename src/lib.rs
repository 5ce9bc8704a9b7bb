//! kronjob: a drop-in Kubernetes `batch/v1` CronJob controller.
//!
//! Functional core, imperative shell: [`schedule`] and [`planner`] are pure
//! functions of (CronJob, owned Jobs, now); the controller only feeds them and
//! carries out their plan.

pub mod api_metrics;
pub mod cli;
pub mod client;
pub mod controller;
pub mod crd;
pub mod explain;
pub mod failpoints;
pub mod health;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod objects;
pub mod planner;
pub mod schedule;
pub mod telemetry;
