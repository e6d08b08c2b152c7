//! Forensic facts about evidence files: metadata (EXIF, XMP, generator text) and C2PA provenance.

pub mod metadata;
pub mod provenance;
