//! ecsched: Amazon ECS scheduled tasks (EventBridge rules and EventBridge
//! Scheduler schedules) as code, with a plan → saved plan file → apply workflow.
//! `run` is the whole program; `main.rs` only calls it.

pub mod apply;
pub mod aws;
pub mod cli;
pub mod config;
pub mod error;
pub mod expr;
pub mod goflags;
pub mod model;
pub mod ops;
pub mod output;
pub mod plan;
pub mod suggest;

pub use cli::run;
