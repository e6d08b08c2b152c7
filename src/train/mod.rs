//! Training: data sets and the training loops.

pub mod augment;
pub mod data;
pub mod mpft;
pub mod pin;
pub mod probe;
pub mod synthetic;
