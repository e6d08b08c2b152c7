//! The one job/progress type: long work reports [`Progress`] events to a sink (a channel in the
//! GUI, a progress bar in the CLI) and stops when its [`CancelFlag`] is raised.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A progress event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// What stage the job is in, e.g. `embedding`, `training`.
    pub stage: String,
    pub done: usize,
    pub total: usize,
    /// Free text (current file, loss, accuracy).
    pub message: String,
    /// Named figures for charts (e.g. `loss`, `accuracy`, `heldout_auc`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<(String, f64)>,
}

impl Progress {
    pub fn new(stage: &str, done: usize, total: usize, message: impl Into<String>) -> Self {
        Self {
            stage: stage.into(),
            done,
            total,
            message: message.into(),
            values: Vec::new(),
        }
    }

    /// Adds a named figure.
    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.values.push((name.into(), value));
        self
    }

    /// A named figure, if present.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// Shared cancel flag.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// True when both are the same flag (clones of one `new`).
    pub fn same(&self, other: &CancelFlag) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Where a job sends its progress.
pub type ProgressSink<'a> = &'a (dyn Fn(Progress) + Sync);

/// A sink that drops every event.
pub fn no_progress(_: Progress) {}
