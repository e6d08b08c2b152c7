//! Training: data sets and the training loops.

pub mod data;
pub mod probe;
