//! Comma-separated tables for spreadsheets (`scan --csv`, the report's summary.csv): RFC 4180
//! quoting, and text cells that a spreadsheet would read as a formula (a file named
//! `=HYPERLINK(...)`, say) written with a leading apostrophe, so opening the table runs nothing.

/// One cell: quoted where it holds a comma, quote or line break; a text cell that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`.
pub fn text_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    quote(&guarded)
}

/// A number cell (never guarded: `-0.3` is a number, not a formula).
pub fn number_cell(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        String::new()
    }
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A row of cells, ended with a line feed (which every spreadsheet reads; line breaks inside a
/// cell are quoted).
pub fn row(cells: &[String]) -> String {
    let mut s = cells.join(",");
    s.push('\n');
    s
}

/// A cell from a JSON value: strings as text, numbers as numbers, arrays of strings joined with
/// "; ", null or absent as empty.
pub fn json_cell(v: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => text_cell(s),
        Some(Value::Number(n)) => n.as_f64().map(number_cell).unwrap_or_default(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(a)) => text_cell(
            &a.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Some(other) => text_cell(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_formula_guard() {
        assert_eq!(text_cell("plain.jpg"), "plain.jpg");
        assert_eq!(text_cell("a,b.jpg"), "\"a,b.jpg\"");
        assert_eq!(text_cell("say \"hi\".png"), "\"say \"\"hi\"\".png\"");
        assert_eq!(text_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(text_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(text_cell("+1.jpg"), "'+1.jpg");
        assert_eq!(text_cell("-rf.png"), "'-rf.png");
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(number_cell(-0.25), "-0.25");
        assert_eq!(number_cell(f64::NAN), "");
        assert_eq!(row(&["a".into(), "b".into()]), "a,b\n");
    }

    #[test]
    fn json_cells() {
        let v = serde_json::json!({"s": "x", "n": 3, "a": ["one", "two, three"], "z": null});
        assert_eq!(json_cell(v.get("s")), "x");
        assert_eq!(json_cell(v.get("n")), "3");
        assert_eq!(json_cell(v.get("a")), "\"one; two, three\"");
        assert_eq!(json_cell(v.get("z")), "");
        assert_eq!(json_cell(v.get("missing")), "");
    }
}
