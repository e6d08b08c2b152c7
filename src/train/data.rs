//! Labelled image collections on disk.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Image files under `root`, recursively, sorted (symlinks followed, hidden files skipped).
pub fn list_images(root: &Path) -> Result<Vec<PathBuf>> {
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    if !root.is_dir() {
        bail!("{}: no such file or directory", root.display());
    }
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && crate::imageio::is_image_extension(e.path()))
        .map(|e| e.into_path())
        .collect();
    v.sort();
    Ok(v)
}

/// Expands command-line paths (files and folders) into image files, keeping the given order.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            out.extend(list_images(p)?);
        } else if !p.exists() {
            bail!("{}: no such file or directory", p.display());
        } else {
            // Files are taken as given, whatever their extension: the loader reads the bytes.
            out.push(p.clone());
        }
    }
    Ok(out)
}
