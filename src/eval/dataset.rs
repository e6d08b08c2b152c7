//! Evaluation data-set layouts: `real/** + fake/<generator>/**` (aigi-dev), UniversalFakeDetect
//! (`<generator>/**/0_real|1_fake/**`) and GenImage (`<generator>/**/nature|ai/**`).

use crate::train::data::list_images;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Real photos (pooled) and generated images per generator.
#[derive(Debug, Clone, Default)]
pub struct EvalSet {
    pub layout: String,
    pub reals: Vec<PathBuf>,
    pub fakes: BTreeMap<String, Vec<PathBuf>>,
}

impl EvalSet {
    pub fn len(&self) -> usize {
        self.reals.len() + self.fakes.values().map(Vec::len).sum::<usize>()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn subdirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Directories named `name` anywhere under `root`.
fn find_named(root: &Path, names: &[&str]) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir() && names.iter().any(|n| e.file_name() == *n))
        .map(|e| e.into_path())
        .collect()
}

/// Detects the layout of `root` and lists its images.
pub fn load_dataset(root: &Path) -> Result<EvalSet> {
    if !root.is_dir() {
        bail!("{}: not a directory", root.display());
    }
    let mut set = EvalSet::default();
    let (real, fake) = (root.join("real"), root.join("fake"));
    if real.is_dir() && fake.is_dir() {
        set.layout = "real/ + fake/<generator>/".into();
        set.reals = list_images(&real)?;
        for g in subdirs(&fake) {
            let name = g
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            set.fakes.insert(name, list_images(&g)?);
        }
        let loose: Vec<PathBuf> = list_images(&fake)?
            .into_iter()
            .filter(|p| p.parent() == Some(fake.as_path()))
            .collect();
        if !loose.is_empty() {
            set.fakes.insert("fake".into(), loose);
        }
    } else {
        for (layout, real_name, fake_name) in [
            ("UniversalFakeDetect", "0_real", "1_fake"),
            ("GenImage", "nature", "ai"),
        ] {
            let reals = find_named(root, &[real_name]);
            let fakes = find_named(root, &[fake_name]);
            if reals.is_empty() && fakes.is_empty() {
                continue;
            }
            set.layout = layout.into();
            for r in reals {
                set.reals.extend(list_images(&r)?);
            }
            for f in fakes {
                // The generator is the first path component under the root.
                let rel = f.strip_prefix(root).unwrap_or(&f);
                let gen = rel
                    .components()
                    .next()
                    .map(|c| c.as_os_str().to_string_lossy().to_string());
                let gen = gen
                    .filter(|g| g != fake_name)
                    .unwrap_or_else(|| "fake".into());
                set.fakes.entry(gen).or_default().extend(list_images(&f)?);
            }
            break;
        }
    }
    if set.layout.is_empty() {
        bail!("{}: unknown layout (expected real/ + fake/<generator>/, <generator>/0_real|1_fake, or <generator>/nature|ai)", root.display());
    }
    set.reals.sort();
    set.reals.dedup();
    set.fakes.retain(|_, v| !v.is_empty());
    if set.reals.is_empty() || set.fakes.is_empty() {
        bail!(
            "{}: need both real and generated images ({} real, {} generators)",
            root.display(),
            set.reals.len(),
            set.fakes.len()
        );
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn three_layouts() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        touch(&a.join("real/x/1.jpg"));
        touch(&a.join("fake/GAN/2.png"));
        touch(&a.join("fake/SD/3.png"));
        let s = load_dataset(&a).unwrap();
        assert_eq!(s.reals.len(), 1);
        assert_eq!(
            s.fakes.keys().cloned().collect::<Vec<_>>(),
            vec!["GAN", "SD"]
        );

        let u = d.path().join("u");
        touch(&u.join("biggan/0_real/1.png"));
        touch(&u.join("biggan/1_fake/2.png"));
        touch(&u.join("cyclegan/horse/0_real/3.png"));
        touch(&u.join("cyclegan/horse/1_fake/4.png"));
        let s = load_dataset(&u).unwrap();
        assert_eq!(s.layout, "UniversalFakeDetect");
        assert_eq!(s.reals.len(), 2);
        assert_eq!(s.fakes["cyclegan"].len(), 1);

        let g = d.path().join("g");
        touch(&g.join("midjourney/val/nature/1.jpg"));
        touch(&g.join("midjourney/val/ai/2.png"));
        let s = load_dataset(&g).unwrap();
        assert_eq!(s.layout, "GenImage");
        assert_eq!(s.fakes["midjourney"].len(), 1);

        let e = d.path().join("empty");
        std::fs::create_dir_all(&e).unwrap();
        assert!(load_dataset(&e).is_err());
    }
}
