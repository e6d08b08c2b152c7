//! Evaluation: data-set layouts, perturbations, metrics and the figures they add up to.

pub mod dataset;
pub mod metrics;
pub mod perturb;
pub mod report;
