//! Training in a child process: the window starts `fauxscope train-worker`, writes one job as a
//! JSON line on its stdin, and reads progress back as JSON lines on its stdout.
//!
//! Why a process and not a thread: a training run allocates and frees several gigabytes. In the
//! window's own process that memory traffic stalled the UI thread (allocator locks, then the return
//! of ~7 GB to the system after a run; docs/BENCHMARKS.md). In a child the kernel reclaims it when
//! the child exits, and a run that dies (out of memory, a crash in a kernel) cannot take the
//! window and the examiner's open evidence down with it.
//!
//! Protocol. stdin: the [`TrainSpec`] on the first line, then `cancel` to stop after the current
//! step (end of input, e.g. the window closing, also cancels). stdout: one [`Message`] per line,
//! [`Message::Done`] or [`Message::Failed`] last. stderr: free text, kept for error messages.

use super::train::MpftRequest;
use super::{Engine, ProbeRequest};
use crate::detect::Checkpoint;
use crate::device::{DeviceChoice, Precision};
use crate::jobs::{CancelFlag, Progress, ProgressSink};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The subcommand (hidden from `--help`) that runs one job.
pub const WORKER_ARG: &str = "train-worker";

/// Which trainer, with its request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum TrainRequest {
    Probe(Box<ProbeRequest>),
    /// MPFT, or PiN-CLIP when the request has PiN settings.
    Mpft(Box<MpftRequest>),
}

impl TrainRequest {
    /// Where the checkpoint is written.
    pub fn out(&self) -> &Path {
        match self {
            Self::Probe(r) => &r.out,
            Self::Mpft(r) => &r.out,
        }
    }

    /// Runs the job on an open engine (in this process).
    pub fn run(
        &self,
        engine: &Engine,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Checkpoint> {
        match self {
            Self::Probe(r) => engine.train_probe(r, progress, cancel),
            Self::Mpft(r) => engine.train_mpft(r, progress, cancel),
        }
    }
}

/// One job for a worker process: the base model and device to open, and the request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSpec {
    pub model: String,
    pub device: DeviceChoice,
    pub request: TrainRequest,
}

/// A line a worker writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Message {
    Progress(Progress),
    /// The run ended with a checkpoint at `out` (a cancelled run keeps its best epoch so far).
    Done {
        out: PathBuf,
    },
    Failed {
        error: String,
    },
}

/// The worker side: reads a [`TrainSpec`] from stdin, runs it, reports on stdout. Returns the
/// process exit code (0 when a checkpoint was written).
pub fn run_worker() -> Result<i32> {
    lowest_priority();
    let mut first = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut first)
        .context("train-worker: cannot read the job from stdin")?;
    let spec: TrainSpec = serde_json::from_str(first.trim())
        .context("train-worker: the first line of stdin is not a training job")?;
    let cancel = CancelFlag::new();
    {
        let c = cancel.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(l) if l.trim() == "cancel" => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            // `cancel`, or the end of input: the window is gone or wants the run stopped.
            c.cancel();
        });
    }
    let out = Mutex::new(std::io::stdout());
    let emit = |m: &Message| {
        if let Ok(line) = serde_json::to_string(m) {
            let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
            // A closed pipe (the window exited) is not an error worth stopping for: the end of
            // stdin has already cancelled the run.
            let _ = writeln!(o, "{line}").and_then(|_| o.flush());
        }
    };
    let progress = |mut p: Progress| {
        // JSON has no NaN or infinity; such a figure would make the line unreadable.
        p.values.retain(|(_, v)| v.is_finite());
        emit(&Message::Progress(p));
    };
    let result = Engine::open(&spec.model, spec.device, Precision::F32, &mut |s: &str| {
        progress(Progress::new("loading", 0, 0, s))
    })
    .and_then(|engine| spec.request.run(&engine, &progress, &cancel));
    match result {
        Ok(_) => {
            emit(&Message::Done {
                out: spec.request.out().to_path_buf(),
            });
            Ok(0)
        }
        Err(e) => {
            emit(&Message::Failed {
                error: format!("{e:#}"),
            });
            Ok(1)
        }
    }
}

/// Puts this process below everything else on the machine, before it starts any thread (threads
/// inherit it): Linux's SCHED_IDLE, so the window's threads (and an analysis the examiner asks
/// for meanwhile) take a core from training the moment they wake, instead of waiting out its time
/// slice. Falls back to nice 19 where SCHED_IDLE is refused.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: scheduling calls on the calling thread with a valid, initialised parameter.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        }
    }
}

/// Lines of the worker's stderr kept for an error message.
const STDERR_TAIL: usize = 20;

/// The window's side: runs `spec` in a child `exe train-worker`, forwards its progress to
/// `progress`, passes `cancel` on, and returns the checkpoint it wrote (read back from disk).
pub fn run_in_child(
    exe: &Path,
    spec: &TrainSpec,
    progress: ProgressSink,
    cancel: &CancelFlag,
) -> Result<Checkpoint> {
    let mut cmd = Command::new(exe);
    // A run frees and re-allocates gigabytes every step. Returned to the system each time, that
    // memory is faulted in and zeroed again by the kernel on the next step; the child keeps it
    // instead (mimalloc's purge delay; it all goes back when the child exits).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        cmd.env("MIMALLOC_PURGE_DELAY", "-1");
    }
    let mut child = cmd
        .arg(WORKER_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start the training process {}", exe.display()))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        bail!("the training process has no pipes");
    };
    let job = serde_json::to_string(spec)
        .context("the training folders' and output's names must be valid UTF-8 text")?;
    if let Err(e) = writeln!(stdin, "{job}").and_then(|_| stdin.flush()) {
        let _ = child.kill();
        let _ = child.wait();
        bail!("cannot send the job to the training process: {e}");
    }
    let tail = Arc::new(Mutex::new(VecDeque::<String>::new()));
    let tail_reader = {
        let tail = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        })
    };
    // Passes a cancel on; keeps stdin open until the run ends (its end cancels the worker).
    let finished = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (finished, cancel) = (finished.clone(), cancel.clone());
        std::thread::spawn(move || {
            while !finished.load(Ordering::SeqCst) {
                if cancel.is_cancelled() {
                    let _ = writeln!(stdin, "cancel").and_then(|_| stdin.flush());
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(stdin);
        })
    };
    let mut outcome: Option<std::result::Result<PathBuf, String>> = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Message>(&line) {
            Ok(Message::Progress(p)) => progress(p),
            Ok(Message::Done { out }) => outcome = Some(Ok(out)),
            Ok(Message::Failed { error }) => outcome = Some(Err(error)),
            // Not ours (a library printing to stdout): keep it for the error message.
            Err(_) => {
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                t.push_back(line);
            }
        }
    }
    let status = child.wait().context("waiting for the training process")?;
    finished.store(true, Ordering::SeqCst);
    let _ = watcher.join();
    let _ = tail_reader.join();
    match outcome {
        Some(Ok(out)) => Checkpoint::load(&out),
        Some(Err(e)) => Err(anyhow!(e)),
        None => {
            let t = tail.lock().unwrap_or_else(|e| e.into_inner());
            let said: Vec<&str> = t.iter().map(String::as_str).collect();
            bail!(
                "the training process ended without a result ({status}){}{}",
                if said.is_empty() { "" } else { ": " },
                said.join(" | ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_single_lines() {
        let m = Message::Progress(Progress::new("training", 3, 10, "step").with("loss", 0.5));
        let s = serde_json::to_string(&m).unwrap();
        assert!(!s.contains('\n'));
        match serde_json::from_str::<Message>(&s).unwrap() {
            Message::Progress(p) => {
                assert_eq!((p.stage.as_str(), p.done, p.total), ("training", 3, 10));
                assert_eq!(p.value("loss"), Some(0.5));
            }
            other => panic!("{other:?}"),
        }
        let spec = TrainSpec {
            model: "tiny".into(),
            device: DeviceChoice::Cpu,
            request: TrainRequest::Probe(Box::new(ProbeRequest {
                real: vec!["r".into()],
                fake: vec!["f".into()],
                out: "o.safetensors".into(),
                name: "n".into(),
                crop: Default::default(),
                settings: Default::default(),
            })),
        };
        let back: TrainSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back.request.out(), Path::new("o.safetensors"));
    }

    #[test]
    fn a_missing_worker_is_a_clear_error() {
        let spec = TrainSpec {
            model: "tiny".into(),
            device: DeviceChoice::Cpu,
            request: TrainRequest::Probe(Box::new(ProbeRequest {
                real: vec![],
                fake: vec![],
                out: "o.safetensors".into(),
                name: "n".into(),
                crop: Default::default(),
                settings: Default::default(),
            })),
        };
        let e = run_in_child(
            Path::new("/nonexistent/fauxscope"),
            &spec,
            &crate::jobs::no_progress,
            &CancelFlag::new(),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/fauxscope"), "{e:#}");
    }
}
