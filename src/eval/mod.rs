//! Evaluation: metrics over labelled data.

pub mod metrics;
