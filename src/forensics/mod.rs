//! Forensic facts about evidence files: metadata (EXIF, XMP, generator text).

pub mod metadata;
