//! Labelled image collections on disk.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// What a folder walk found: the pictures, and the other files, which are not examined.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// Files listed by their extension ([`crate::imageio::is_image_extension`]) or, whatever
    /// their extension, by their first bytes ([`crate::imageio::sniff_picture`]), sorted per
    /// folder.
    pub images: Vec<PathBuf>,
    /// Regular files under the folders that are neither (hidden files are left out of both).
    pub others: Vec<PathBuf>,
    /// What the walk could not read (a folder without permission, a symbolic-link loop), each
    /// with the path and the reason.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Listing {
    /// Each entry the walk could not read, with its message "PATH: reason" (scan, the report and
    /// the window word it the same way).
    pub fn unreadable_messages(&self) -> impl Iterator<Item = (&Path, String)> + '_ {
        self.unreadable
            .iter()
            .map(|(p, reason)| (p.as_path(), format!("{}: {reason}", p.display())))
    }

    /// A line naming the files that are not examined (the first few of them), or None; callers
    /// say "not examined" before it.
    pub fn others_note(&self) -> Option<String> {
        const SHOWN: usize = 5;
        let n = self.others.len();
        if n == 0 {
            return None;
        }
        let names: Vec<String> = self
            .others
            .iter()
            .take(SHOWN)
            .map(|p| p.display().to_string())
            .collect();
        let more = if n > SHOWN {
            format!(" and {} more", n - SHOWN)
        } else {
            String::new()
        };
        Some(format!(
            "{n} file(s) in the folders are not pictures by name or content: {}{more}",
            names.join(", ")
        ))
    }
}

/// Pictures and other files under `root`, recursively (symlinks followed, hidden files and
/// folders skipped); `root` itself when it is a file.
pub fn list_folder(root: &Path) -> Result<Listing> {
    if root.is_file() {
        return Ok(Listing {
            images: vec![root.to_path_buf()],
            ..Listing::default()
        });
    }
    if !root.is_dir() {
        bail!("{}: no such file or directory", root.display());
    }
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    // Whether the walk went through a symbolic link: only then can a file be reached twice.
    let mut linked = false;
    let walk = walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                linked |= e.path_is_symlink();
                files.push(e.into_path());
            }
            Ok(e) if e.file_type().is_dir() => linked |= e.path_is_symlink(),
            // A named pipe, socket or device: never opened (reading it could block or not end).
            Ok(e) => unreadable.push((
                e.path().to_path_buf(),
                format!(
                    "not a regular file: it is {}, so it is not read",
                    crate::fsutil::file_kind(&e.file_type())
                ),
            )),
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                let reason = match (e.loop_ancestor(), e.io_error()) {
                    (Some(a), _) => format!(
                        "a symbolic link back to {}, which is already being read",
                        a.display()
                    ),
                    (None, Some(io)) => format!("cannot read: {io}"),
                    (None, None) => e.to_string(),
                };
                unreadable.push((path, reason));
            }
        }
    }
    if linked {
        files = once_each(root, files);
    }
    files.sort();
    let (images, others) = files
        .into_iter()
        .partition(|p| crate::imageio::is_image_extension(p) || crate::imageio::sniff_picture(p));
    Ok(Listing {
        images,
        others,
        unreadable,
    })
}

/// `files` found under `root` with each file once: one reached twice (by a link to it, or
/// through a linked folder) keeps its most direct spelling, its own place in the folder before a
/// way through links, a shorter way round before a longer one.
fn once_each(root: &Path, files: Vec<PathBuf>) -> Vec<PathBuf> {
    let real_root = crate::fsutil::real_path(root);
    let mut ranked: Vec<((bool, usize), PathBuf, PathBuf)> = files
        .into_iter()
        .map(|p| {
            let real = crate::fsutil::real_path(&p);
            let rel = p.strip_prefix(root).ok();
            let direct = rel.is_some_and(|rel| real == real_root.join(rel));
            let depth = rel.map_or(usize::MAX, |r| r.components().count());
            ((!direct, depth), real, p)
        })
        .collect();
    ranked.sort();
    let mut seen = std::collections::HashSet::new();
    ranked
        .into_iter()
        .filter(|(_, real, _)| seen.insert(real.clone()))
        .map(|(_, _, p)| p)
        .collect()
}

/// Image files under `root`, recursively, sorted (see [`list_folder`]).
pub fn list_images(root: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_folder(root)?.images)
}

/// Expands command-line paths (files and folders) into image files, keeping the given order, with
/// the folders' other files. A file reached twice (given twice, or given and inside a given
/// folder, or by another spelling of its path) is listed once, under its first spelling.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Listing> {
    let mut out = Listing::default();
    for p in inputs {
        if p.is_dir() {
            let l = list_folder(p)?;
            out.images.extend(l.images);
            out.others.extend(l.others);
            out.unreadable.extend(l.unreadable);
        } else if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        } else {
            // Files are taken as given, whatever their extension: the loader reads the bytes.
            out.images.push(p.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut first = |p: &Path| seen.insert(crate::fsutil::real_path(p));
    out.images.retain(|p| first(p));
    out.others.retain(|p| first(p));
    out.unreadable.retain(|(p, _)| first(p));
    Ok(out)
}
