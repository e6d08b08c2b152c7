//! The evidence list's order and filter, for working through many images: what the window shows
//! is the list as added, sorted and filtered here; the list itself keeps its order.

use crate::workstation::settings::BookmarkStatus;

/// How the evidence list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListSort {
    /// In the order the files were added.
    #[default]
    Added,
    /// By file name (case-insensitive), then path.
    Name,
    /// Highest calibrated probability of generation first (the primary detector); images still
    /// being analysed and unreadable ones last.
    Probability,
}

impl ListSort {
    pub const ALL: [ListSort; 3] = [ListSort::Added, ListSort::Name, ListSort::Probability];

    pub fn label(self) -> &'static str {
        match self {
            Self::Added => "as added",
            Self::Name => "by name",
            Self::Probability => "most likely generated first",
        }
    }
}

/// Which images the evidence list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListFilter {
    #[default]
    All,
    /// The primary detector finds weak, moderate or strong evidence of generation.
    Flagged,
    /// A re-encoding flips the primary decision.
    Unsure,
    /// The detectors do not agree.
    Disagree,
    /// Not yet bookmarked by the examiner.
    Unreviewed,
    /// Bookmarked "to check" or "warning".
    Marked,
    /// Could not be read or analysed.
    Errors,
}

impl ListFilter {
    pub const ALL: [ListFilter; 7] = [
        ListFilter::All,
        ListFilter::Flagged,
        ListFilter::Unsure,
        ListFilter::Disagree,
        ListFilter::Unreviewed,
        ListFilter::Marked,
        ListFilter::Errors,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::All => "all images",
            Self::Flagged => "evidence of generation",
            Self::Unsure => "unsure under re-encoding",
            Self::Disagree => "detectors disagree",
            Self::Unreviewed => "not yet bookmarked",
            Self::Marked => "bookmarked to check or warning",
            Self::Errors => "errors",
        }
    }
}

/// What the list's order and filter read of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The file name, as shown.
    pub name: String,
    pub path: String,
    /// The primary detector's calibrated probability (None while analysing, or on an error).
    pub probability: Option<f32>,
    /// The primary detector calls it generated (weak evidence or more).
    pub flagged: bool,
    pub unsure: bool,
    pub disagree: bool,
    pub error: bool,
    pub bookmark: BookmarkStatus,
}

impl Row {
    fn shown(&self, filter: ListFilter) -> bool {
        match filter {
            ListFilter::All => true,
            ListFilter::Flagged => self.flagged,
            ListFilter::Unsure => self.unsure,
            ListFilter::Disagree => self.disagree,
            ListFilter::Unreviewed => self.bookmark == BookmarkStatus::Unreviewed,
            ListFilter::Marked => {
                matches!(
                    self.bookmark,
                    BookmarkStatus::ToCheck | BookmarkStatus::Warning
                )
            }
            ListFilter::Errors => self.error,
        }
    }
}

/// The indices of `rows` to show, in the order to show them.
pub fn order(rows: &[Row], sort: ListSort, filter: ListFilter) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].shown(filter)).collect();
    match sort {
        ListSort::Added => {}
        // The list is ordered every frame: each name is lower-cased once.
        ListSort::Name => idx.sort_by_cached_key(|&i| (rows[i].name.to_lowercase(), &rows[i].path)),
        // Stable: equal probabilities keep the order they were added in.
        ListSort::Probability => {
            idx.sort_by(|&a, &b| match (rows[a].probability, rows[b].probability) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
        }
    }
    idx
}

/// The list's counts, for the line above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub total: usize,
    pub flagged: usize,
    pub unsure: usize,
    pub errors: usize,
    /// Still being analysed.
    pub pending: usize,
}

impl Counts {
    pub fn of(rows: &[Row]) -> Self {
        let n = |f: fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
        Self {
            total: rows.len(),
            flagged: n(|r| r.flagged),
            unsure: n(|r| r.unsure),
            errors: n(|r| r.error),
            pending: n(|r| r.probability.is_none() && !r.error),
        }
    }

    /// "12 images: 3 with evidence of generation, 1 unsure, 1 error, 2 analysing".
    pub fn line(&self) -> String {
        let mut parts = vec![format!("{} with evidence of generation", self.flagged)];
        if self.unsure > 0 {
            parts.push(format!("{} unsure", self.unsure));
        }
        if self.errors > 0 {
            parts.push(format!(
                "{} error{}",
                self.errors,
                if self.errors == 1 { "" } else { "s" }
            ));
        }
        if self.pending > 0 {
            parts.push(format!("{} analysing", self.pending));
        }
        format!(
            "{} image{}: {}",
            self.total,
            if self.total == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }
}

/// The next (`step` 1) or previous (`step` -1) shown image from `selected`, for the arrow keys:
/// the first or last shown one when the selection is not shown; None when nothing is shown.
pub fn step(shown: &[usize], selected: Option<usize>, step: isize) -> Option<usize> {
    if shown.is_empty() {
        return None;
    }
    let pos = selected.and_then(|s| shown.iter().position(|&i| i == s));
    let k = match pos {
        None if step > 0 => 0,
        None => shown.len() - 1,
        Some(p) => (p as isize + step).clamp(0, shown.len() as isize - 1) as usize,
    };
    Some(shown[k])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, p: Option<f32>) -> Row {
        Row {
            name: name.into(),
            path: format!("/case/{name}"),
            probability: p,
            flagged: p.is_some_and(|p| p >= 0.5),
            unsure: false,
            disagree: false,
            error: false,
            bookmark: BookmarkStatus::Unreviewed,
        }
    }

    #[test]
    fn sorts_by_probability_with_pending_and_errors_last_and_ties_as_added() {
        let mut rows = vec![
            row("b.jpg", Some(0.2)),
            row("a.jpg", None),
            row("C.jpg", Some(0.9)),
            row("d.jpg", Some(0.2)),
        ];
        rows[1].error = true;
        assert_eq!(order(&rows, ListSort::Added, ListFilter::All), [0, 1, 2, 3]);
        assert_eq!(
            order(&rows, ListSort::Probability, ListFilter::All),
            [2, 0, 3, 1]
        );
        assert_eq!(order(&rows, ListSort::Name, ListFilter::All), [1, 0, 2, 3]);
        assert_eq!(order(&rows, ListSort::Added, ListFilter::Flagged), [2]);
        assert_eq!(order(&rows, ListSort::Added, ListFilter::Errors), [1]);
        let c = Counts::of(&rows);
        assert_eq!((c.total, c.flagged, c.errors, c.pending), (4, 1, 1, 0));
        assert_eq!(c.line(), "4 images: 1 with evidence of generation, 1 error");
    }

    #[test]
    fn filters_on_bookmarks_and_flags() {
        let mut rows = vec![row("a", Some(0.1)), row("b", Some(0.1)), row("c", None)];
        rows[0].bookmark = BookmarkStatus::ToCheck;
        rows[1].bookmark = BookmarkStatus::Ok;
        rows[1].unsure = true;
        rows[2].disagree = true;
        assert_eq!(order(&rows, ListSort::Added, ListFilter::Marked), [0]);
        assert_eq!(order(&rows, ListSort::Added, ListFilter::Unreviewed), [2]);
        assert_eq!(order(&rows, ListSort::Added, ListFilter::Unsure), [1]);
        assert_eq!(order(&rows, ListSort::Added, ListFilter::Disagree), [2]);
        assert_eq!(Counts::of(&rows).pending, 1);
    }

    #[test]
    fn arrow_keys_walk_the_shown_order() {
        let shown = [3, 0, 2];
        assert_eq!(step(&shown, None, 1), Some(3));
        assert_eq!(step(&shown, None, -1), Some(2));
        assert_eq!(step(&shown, Some(3), 1), Some(0));
        assert_eq!(step(&shown, Some(0), -1), Some(3));
        assert_eq!(step(&shown, Some(2), 1), Some(2), "stays at the end");
        assert_eq!(step(&shown, Some(3), -1), Some(3), "stays at the start");
        assert_eq!(step(&shown, Some(1), 1), Some(3), "hidden selection");
        assert_eq!(step(&[], Some(1), 1), None);
    }
}
