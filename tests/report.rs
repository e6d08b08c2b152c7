//! Reports and provenance: C2PA validation of an image signed here with a test certificate (and
//! of the same file with one byte flipped), and a full report whose PDF text, JSON sidecar
//! (checked against docs/report-schema.json) and evidence hashes are verified.

mod common;

use fauxscope::forensics::provenance::{check_c2pa, ProvenanceState, TrustList};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A JPEG signed with c2pa's signing API and the test signer in tests/fixtures/c2pa.
fn signed_jpeg(dir: &Path) -> PathBuf {
    let fx = root().join("tests/fixtures/c2pa");
    let chain = std::fs::read(fx.join("test-signer-chain.pem")).unwrap();
    let key = std::fs::read(fx.join("test-signer.key")).unwrap();
    let signer =
        c2pa::create_signer::from_keys(&chain, &key, c2pa::SigningAlg::Es256, None).unwrap();
    let definition = r#"{
        "claim_generator_info": [{"name": "fauxscope-test", "version": "1"}],
        "title": "signed.jpg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created",
             "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}
        ]}}]
    }"#;
    let mut builder = c2pa::Builder::from_context(c2pa::Context::new())
        .with_definition(definition)
        .unwrap();
    let img = image::RgbImage::from_fn(256, 192, |x, y| {
        image::Rgb([(x % 256) as u8, (y * 2 % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    let mut src = std::io::Cursor::new(jpeg);
    let mut dst = std::io::Cursor::new(Vec::new());
    builder
        .sign(signer.as_ref(), "image/jpeg", &mut src, &mut dst)
        .unwrap();
    let p = dir.join("signed.jpg");
    std::fs::write(&p, dst.into_inner()).unwrap();
    p
}

/// The same file with one byte of the image data flipped.
fn tampered_copy(signed: &Path) -> PathBuf {
    let mut b = std::fs::read(signed).unwrap();
    // A byte in the entropy-coded data, well after the manifest (APP11 near the start).
    let mut i = b.len() - 200;
    while b[i] == 0xff || b[i] ^ 0x01 == 0xff || b[i - 1] == 0xff {
        i -= 1;
    }
    b[i] ^= 0x01;
    let p = signed.with_file_name("tampered.jpg");
    std::fs::write(&p, b).unwrap();
    p
}

fn test_trust() -> TrustList {
    TrustList::from_file(&root().join("tests/fixtures/c2pa/test-root-ca.pem")).unwrap()
}

#[test]
fn c2pa_signed_image_validates_and_a_flipped_byte_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let signed = signed_jpeg(dir.path());
    let tampered = tampered_copy(&signed);

    let p = check_c2pa(&signed, "image/jpeg", &test_trust());
    assert_eq!(p.state, ProvenanceState::Trusted, "{p:#?}");
    assert!(p.statuses.iter().all(|s| s.kind != "failure"), "{p:#?}");
    assert_eq!(p.signer.as_deref(), Some("Fauxscope Test Signer"), "{p:#?}");
    assert_eq!(p.claim_generator.as_deref(), Some("fauxscope-test"));
    assert!(p
        .digital_source_types
        .iter()
        .any(|d| d.ends_with("trainedAlgorithmicMedia")));

    // Against the shipped C2PA trust list the test signer is unknown: valid, not trusted.
    let p = check_c2pa(&signed, "image/jpeg", &TrustList::shipped());
    assert_eq!(p.state, ProvenanceState::Valid, "{p:#?}");
    assert!(
        p.statuses
            .iter()
            .any(|s| s.code == "signingCredential.untrusted"),
        "{p:#?}"
    );
    assert!(p.trust_list_certificates > 10);

    let p = check_c2pa(&tampered, "image/jpeg", &test_trust());
    assert_eq!(p.state, ProvenanceState::Invalid, "{p:#?}");
    let fail: Vec<&str> = p
        .statuses
        .iter()
        .filter(|s| s.kind == "failure")
        .map(|s| s.code.as_str())
        .collect();
    assert!(fail.contains(&"assertion.dataHash.mismatch"), "{fail:?}");

    // A file without a manifest.
    let plain = root().join("assets/samples/photo-rocket.jpg");
    let p = check_c2pa(&plain, "image/jpeg", &test_trust());
    assert_eq!(p.state, ProvenanceState::Absent, "{p:#?}");
}

/// A JSON Schema validator for the keywords docs/report-schema.json uses ($ref to #/$defs, type,
/// const, enum, required, properties, additionalProperties (false or a schema for every other
/// value), items, minItems, maxItems,
/// minLength, maxLength, minimum, maximum). Returns every violation with its JSON path.
fn validate(schema: &Value, root_schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
        let name = r.strip_prefix("#/$defs/").expect("only local $defs refs");
        let target = &root_schema["$defs"][name];
        assert!(!target.is_null(), "schema has no $defs/{name}");
        return validate(target, root_schema, v, path, errs);
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            errs.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            errs.push(format!("{path}: {v} != const {c}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(|e| e.as_array()) {
        if !e.contains(v) {
            errs.push(format!("{path}: {v} not in {e:?}"));
        }
    }
    if let Some(s) = v.as_str() {
        let n = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(|m| m.as_u64())
            .is_some_and(|m| n < m)
        {
            errs.push(format!("{path}: string too short"));
        }
        if schema
            .get("maxLength")
            .and_then(|m| m.as_u64())
            .is_some_and(|m| n > m)
        {
            errs.push(format!("{path}: string too long"));
        }
    }
    if let Some(x) = v.as_f64() {
        if schema
            .get("minimum")
            .and_then(|m| m.as_f64())
            .is_some_and(|m| x < m)
        {
            errs.push(format!("{path}: {x} below minimum"));
        }
        if schema
            .get("maximum")
            .and_then(|m| m.as_f64())
            .is_some_and(|m| x > m)
        {
            errs.push(format!("{path}: {x} above maximum"));
        }
    }
    if let Some(o) = v.as_object() {
        for r in schema
            .get("required")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            let k = r.as_str().unwrap();
            if !o.contains_key(k) {
                errs.push(format!("{path}: missing required '{k}'"));
            }
        }
        let props = schema.get("properties").and_then(|p| p.as_object());
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(s, root_schema, x, &format!("{path}.{k}"), errs),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{path}: unexpected property '{k}'"))
                    }
                    // A map: every value follows the one schema.
                    Some(s @ Value::Object(_)) => {
                        validate(s, root_schema, x, &format!("{path}.{k}"), errs)
                    }
                    _ => {}
                },
            }
        }
    }
    if let Some(a) = v.as_array() {
        if schema
            .get("minItems")
            .and_then(|m| m.as_u64())
            .is_some_and(|m| (a.len() as u64) < m)
        {
            errs.push(format!("{path}: too few items"));
        }
        if schema
            .get("maxItems")
            .and_then(|m| m.as_u64())
            .is_some_and(|m| (a.len() as u64) > m)
        {
            errs.push(format!("{path}: too many items"));
        }
        if let Some(s) = schema.get("items") {
            for (i, x) in a.iter().enumerate() {
                validate(s, root_schema, x, &format!("{path}[{i}]"), errs);
            }
        }
    }
}

/// The report sidecar in `out`, which must follow the schema.
fn valid_sidecar(out: &Path) -> Value {
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let s = schema();
    let mut errs = vec![];
    validate(&s, &s, &json, "$", &mut errs);
    assert!(errs.is_empty(), "sidecar violates the schema: {errs:#?}");
    json
}

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("docs/report-schema.json")).unwrap())
        .unwrap()
}

#[test]
fn the_schema_validator_catches_violations() {
    let s = schema();
    let mut errs = vec![];
    validate(
        &s,
        &s,
        &serde_json::json!({"schema": "other"}),
        "$",
        &mut errs,
    );
    assert!(errs.iter().any(|e| e.contains("const")), "{errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("missing required 'items'")),
        "{errs:?}"
    );
}

#[test]
fn report_pdf_html_json_and_csv_agree_and_evidence_is_untouched() {
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::copy(
        root().join("assets/samples/photo-coffee.png"),
        evidence.join("coffee.png"),
    )
    .unwrap();
    let signed = signed_jpeg(&evidence);
    tampered_copy(&signed);
    // A file that is not an image: skipped with its reason, the case goes on.
    std::fs::write(evidence.join("broken.jpg"), b"\xff\xd8\xff\xe0 not really").unwrap();
    // A file that is not a picture by name or content: listed as not examined.
    std::fs::write(evidence.join("case-notes.txt"), b"seized 2026-11-30\n").unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(&evidence)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let before: Vec<(String, String)> = files
        .iter()
        .map(|f| fauxscope::report::hashes(f).unwrap())
        .collect();

    let out = dir.path().join("out");
    let bin = env!("CARGO_BIN_EXE_fauxscope");
    let o = std::process::Command::new(bin)
        .args(["report"])
        .arg(&evidence)
        .arg("--out")
        .arg(&out)
        .args([
            "--case-id",
            "CASE-7",
            "--examiner",
            "Test Examiner",
            "--notes",
            "integration test",
        ])
        .arg("--trust")
        .arg(root().join("tests/fixtures/c2pa/test-root-ca.pem"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("broken.jpg"), "{stderr}");

    // Evidence unchanged.
    let after: Vec<(String, String)> = files
        .iter()
        .map(|f| fauxscope::report::hashes(f).unwrap())
        .collect();
    assert_eq!(before, after);

    // The JSON sidecar follows the schema.
    let json = valid_sidecar(&out);
    let items = json["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "coffee, signed, tampered");
    assert_eq!(json["skipped"].as_array().unwrap().len(), 1);
    // The reason, without the path again (it has its own field).
    let skipped = &json["skipped"][0];
    assert!(skipped["path"].as_str().unwrap().ends_with("broken.jpg"));
    let reason = skipped["error"].as_str().unwrap();
    assert!(
        !reason.contains("broken.jpg") && !reason.is_empty(),
        "{reason}"
    );
    assert_eq!(json["summary"]["not_examined"], 1);
    let not_examined = &json["not_examined"][0];
    assert!(not_examined["path"]
        .as_str()
        .unwrap()
        .ends_with("case-notes.txt"));
    assert_eq!(not_examined["size_bytes"], 18);
    assert_eq!(json["case"]["id"], "CASE-7");
    let by_name = |n: &str| items.iter().find(|i| i["file"]["name"] == n).unwrap();
    assert_eq!(by_name("signed.jpg")["provenance"]["state"], "trusted");
    assert_eq!(by_name("tampered.jpg")["provenance"]["state"], "invalid");
    assert_eq!(by_name("coffee.png")["provenance"]["state"], "absent");
    assert_eq!(by_name("signed.jpg")["file"]["colour_model"], "Rgb8");
    assert_eq!(by_name("signed.jpg")["file"]["frames"], 1);
    assert!(by_name("signed.jpg")["file"]["analysed_frame"].is_null());
    for it in items {
        assert_eq!(it["file"]["verified_unchanged"], true);
        for k in ["original", "tam", "attention", "chart"] {
            assert!(out.join(it["images"][k].as_str().unwrap()).is_file());
        }
    }

    // The report's own hashes: printed, kept in the sidecar, and right.
    let outputs = json["outputs"].as_array().unwrap();
    for name in ["report.pdf", "report.html", "summary.csv"] {
        let rec = outputs.iter().find(|o| o["name"] == name).unwrap();
        let h = rec["sha256"].as_str().unwrap();
        assert_eq!(h, fauxscope::fsutil::sha256_file(&out.join(name)).unwrap());
        assert!(stdout.contains(h), "{stdout}");
    }

    // The PDF's text holds every evidence SHA-256 and verdict; the HTML and CSV too.
    let pdf = std::fs::read(out.join("report.pdf")).unwrap();
    let text = fauxscope::report::pdf::extract_text(&pdf);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    for it in items {
        let sha = it["file"]["sha256"].as_str().unwrap();
        let verdict = fauxscope::detect::Verdict::label(
            serde_json::from_value(it["results"][0]["verdict"].clone()).unwrap(),
        );
        assert!(text.contains(sha), "PDF lacks {sha}");
        assert!(text.contains(verdict), "PDF lacks '{verdict}'");
        assert!(html.contains(sha) && csv.contains(sha));
    }
    assert!(text.contains("assertion.dataHash.mismatch"));
    // The shipped default's known error rates, measured on its own checkpoint, are declared.
    let det = &json["detectors"][0];
    let val = &det["validation"];
    assert_eq!(val["detector_sha256"], det["checkpoint_sha256"]);
    assert_eq!(val["dataset"], "aigi-dev/val");
    let rate = format!(
        "called {:.1}% of",
        (1.0 - val["summary"]["real_accuracy"].as_f64().unwrap()) * 100.0
    );
    let flat = text.replace('\n', " ");
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    for t in [words(&flat), words(&html)] {
        assert!(
            t.contains(&format!(
                "Known error rates of '{}'",
                det["name"].as_str().unwrap()
            )),
            "{t}"
        );
        assert!(t.contains(&rate) && t.contains("known error rates"), "{t}");
    }
    assert!(flat.contains("Not examined") && flat.contains("case-notes.txt (18 bytes)"));
    assert!(html.contains("case-notes.txt (18 bytes)"));
    assert!(text.contains("Hp: the image is a camera capture"));
    // pdftotext, where installed, reads the same words.
    if let Ok(o) = std::process::Command::new("pdftotext")
        .arg(out.join("report.pdf"))
        .arg("-")
        .output()
    {
        if o.status.success() {
            let t = String::from_utf8_lossy(&o.stdout);
            for it in items {
                assert!(t.contains(it["file"]["sha256"].as_str().unwrap()));
            }
        }
    }
}

/// `fauxscope SUB --model tiny` with its cache and data in `dir`.
fn tiny_command(dir: &Path, sub: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_fauxscope"));
    c.env("FAUXSCOPE_CACHE_DIR", dir.join("cache"))
        .env("FAUXSCOPE_DATA_DIR", dir.join("data"))
        .arg(sub)
        .arg("--model")
        .arg(root().join("tests/fixtures/tiny"));
    c
}

/// Trains a probe on the tiny model with `extra` flags; its checkpoint is named after them.
fn train_probe(dir: &Path, real: &Path, fake: &Path, extra: &[&str]) -> PathBuf {
    let name = match extra.last() {
        Some(last) => format!("{last}.safetensors"),
        None => "trained.safetensors".into(),
    };
    let out = dir.join(name);
    run(tiny_command(dir, "train")
        .args(["--method", "probe"])
        .args(extra)
        .arg("--real")
        .arg(real)
        .arg("--fake")
        .arg(fake)
        .arg("--out")
        .arg(&out));
    out
}

/// A report by `detector` on the tiny model (no comparison detector) on `inputs` into `out`,
/// with `extra` flags; returns its sidecar, checked against the schema.
fn tiny_report(dir: &Path, detector: &Path, inputs: &[&Path], out: &Path, extra: &[&str]) -> Value {
    run(tiny_command(dir, "report")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .arg("--detector")
        .arg(detector)
        .args(["--compare", ""])
        .args(extra));
    valid_sidecar(out)
}

/// A folder with a tiny-model probe trained on 12 + 12 made images, and an empty `evidence`
/// folder in it: (folder, real, fake, probe, evidence).
fn probe_case() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = common::make_data(dir.path(), 12);
    let trained = train_probe(dir.path(), &real, &fake, &[]);
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    (dir, real, fake, trained, evidence)
}

/// Runs a command that must succeed.
fn run(c: &mut std::process::Command) -> std::process::Output {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// A report made with a recalibrated detector (tiny random model, so it runs everywhere) says
/// where the threshold comes from, in the PDF, the HTML and the sidecar, which keeps to the schema.
#[test]
fn a_recalibrated_detector_is_declared_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = common::make_data(dir.path(), 24);
    let bin = |sub: &str| tiny_command(dir.path(), sub);
    let trained = train_probe(dir.path(), &real, &fake, &[]);
    let local = dir.path().join("newsroom.safetensors");
    run(bin("calibrate")
        .arg("--detector")
        .arg(&trained)
        .arg("--real")
        .arg(&real)
        .arg("--out")
        .arg(&local));
    let out = dir.path().join("report");
    let json = tiny_report(dir.path(), &local, &[&real.join("r3.png")], &out, &[]);
    let rec = &json["detectors"][0]["recalibration"];
    assert_eq!(rec["trained_name"], "trained");
    assert_eq!(rec["reference"]["real_count"], 24);
    // Every reference photo was a training photo: the report says so.
    assert_eq!(rec["overlap_with_training"], 24);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let pdf = fauxscope::report::pdf::extract_text(&std::fs::read(out.join("report.pdf")).unwrap());
    // Where the PDF wraps a line depends on the temporary folder's name: compare words.
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let (html, pdf) = (words(&html), words(&pdf));
    for text in [&html, &pdf] {
        assert!(
            text.contains("threshold set on 24 reference real photos"),
            "{text}"
        );
        assert!(text.contains("trained as 'trained'"), "{text}");
        assert!(
            text.contains("24 of them were in the training data"),
            "{text}"
        );
        // A detector made here has no known error rates outside its training sources, and the
        // report says so rather than leave its held-out figures to speak for it.
        assert!(
            text.contains(
                "No error rates on sources outside its training data were measured for 'newsroom'"
            ),
            "{text}"
        );
        assert!(
            text.contains("none measured outside its training sources"),
            "{text}"
        );
    }
    assert!(json["detectors"][0]["validation"].is_null());
}

#[test]
fn a_region_map_is_drawn_and_declared_in_the_report_or_its_absence_explained() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = common::make_data(dir.path(), 24);
    let center = train_probe(dir.path(), &real, &fake, &["--crop", "center"]);
    let clip = train_probe(dir.path(), &real, &fake, &["--crop", "clip"]);
    // 96 x 64 in the tiny model's 32-px tiles: 3 x 2.
    let img = dir.path().join("wide.png");
    image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, 90])
    })
    .save(&img)
    .unwrap();
    let report =
        |det: &Path, out: &Path| tiny_report(dir.path(), det, &[&img], out, &["--regions"]);
    let out = dir.path().join("with");
    let json = report(&center, &out);
    let it = &json["items"][0];
    let m = &it["region_map"];
    assert_eq!(m["tiles"], 6);
    assert_eq!(m["map"].as_array().unwrap().len(), 6);
    let pic = it["images"]["regions"].as_str().unwrap();
    assert_eq!(image::open(out.join(pic)).unwrap().width(), 96);
    assert!(json["reproduce"]
        .as_str()
        .unwrap()
        .contains("--regions --max-tiles 400"));
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let html = words(&std::fs::read_to_string(out.join("report.html")).unwrap());
    let pdf = words(&fauxscope::report::pdf::extract_text(
        &std::fs::read(out.join("report.pdf")).unwrap(),
    ));
    let summary = m["summary"].as_str().unwrap();
    for text in [&html, &pdf] {
        assert!(text.contains(&format!("Region map: {summary}")), "{text}");
    }
    // The summary table (HTML) and summary lines (PDF) give each image's flagged tiles.
    let flagged = format!("{} of 6 tiles flagged", m["flagged"].as_u64().unwrap());
    assert!(html.contains("<th>regions</th>") && html.contains(&format!("<td>{flagged}</td>")));
    assert!(pdf.contains(&format!("region map: {flagged}")), "{pdf}");
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let (head, row) = csv.split_once('\n').unwrap();
    assert!(
        head.ends_with(",region_tiles,region_tiles_flagged"),
        "{head}"
    );
    assert!(
        row.trim_end()
            .ends_with(&format!(",6,{}", m["flagged"].as_u64().unwrap())),
        "{row}"
    );
    // A detector that reads a resized image: no map, and the report says why.
    let out = dir.path().join("without");
    let json = report(&clip, &out);
    let it = &json["items"][0];
    assert!(it["region_map"].is_null() && it["images"]["regions"].is_null());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("<th>regions</th>"));
    let w = it["warnings"].to_string();
    assert!(
        w.contains("no region map") && w.contains("crop mode clip"),
        "{w}"
    );
}

#[test]
fn a_report_is_never_written_into_the_evidence_folder() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8, y as u8, 7]))
        .save(evidence.join("a.png"))
        .unwrap();
    let a_file = dir.path().join("notes.txt");
    std::fs::write(&a_file, "x").unwrap();
    let before: Vec<_> = std::fs::read_dir(&evidence).unwrap().collect();
    let picture = evidence.join("a.png");
    for (input, out, want) in [
        (&evidence, evidence.clone(), "inside the evidence folder"),
        (
            &evidence,
            evidence.join("report/new"),
            "inside the evidence folder",
        ),
        // The same folder reached through `..`.
        (
            &evidence,
            evidence.join("../evidence/r"),
            "inside the evidence folder",
        ),
        (&evidence, a_file.clone(), "is a file, not a folder"),
        // A folder above the evidence.
        (&evidence, dir.path().to_path_buf(), "holds the evidence"),
        // A single picture: not into the folder it sits in (whose files could bear the
        // report's names), nor any folder above it.
        (&picture, evidence.clone(), "holds the evidence"),
        (&picture, dir.path().to_path_buf(), "holds the evidence"),
    ] {
        let o = tiny_command(dir.path(), "report")
            .arg(input)
            .arg("--out")
            .arg(&out)
            .args(["--compare", ""])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(want),
            "{} -> {}: {err}",
            input.display(),
            out.display()
        );
    }
    // Nothing was created in the evidence folder.
    assert_eq!(std::fs::read_dir(&evidence).unwrap().count(), before.len());
}

/// A HEIC photo is analysed like any other image, and the report names the system library that
/// decoded it (another machine's libheif may decode it differently); a report without HEIF
/// images does not mention one.
#[test]
fn a_heic_photo_is_reported_with_its_decoder() {
    if !fauxscope::heif::available_for_tests() {
        return;
    }
    let (dir, real, _, trained, evidence) = probe_case();
    let img = image::open(real.join("r3.png")).unwrap().into_rgb8();
    let heic = fauxscope::heif::encode(&img, fauxscope::heif::Codec::Hevc, 90).unwrap();
    std::fs::write(evidence.join("IMG_0003.HEIC"), &heic).unwrap();
    let report = |input: &Path, out: &Path| tiny_report(dir.path(), &trained, &[input], out, &[]);
    let out = dir.path().join("heic-report");
    let json = report(&evidence, &out);
    let item = &json["items"][0];
    assert_eq!(item["file"]["format"], "HEIC");
    assert_eq!(item["file"]["colour_model"], "YCbCr8");
    assert!(
        item["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("HEVC compression")),
        "{item}"
    );
    let decoder = json["environment"]["heif_decoder"].as_str().unwrap();
    assert!(decoder.starts_with("libheif 1."), "{decoder}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let pdf = fauxscope::report::pdf::extract_text(&std::fs::read(out.join("report.pdf")).unwrap());
    for text in [&html, &pdf] {
        assert!(
            text.contains("HEIF decoder") && text.contains(decoder),
            "{text}"
        );
    }
    // The evidence is untouched.
    assert_eq!(std::fs::read(evidence.join("IMG_0003.HEIC")).unwrap(), heic);

    let out = dir.path().join("png-report");
    let json = report(&real.join("r3.png"), &out);
    assert!(json["environment"].get("heif_decoder").is_none());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("HEIF decoder"));
}

/// A file reached twice (inside a given folder and given again by another spelling of its path)
/// is reported once; a copy of it under another name is reported, and says whose copy it is.
#[test]
fn a_file_given_twice_is_reported_once_and_a_copy_names_its_original() {
    let (dir, real, _, trained, evidence) = probe_case();
    std::fs::copy(real.join("r1.png"), evidence.join("a.png")).unwrap();
    std::fs::copy(real.join("r1.png"), evidence.join("forwarded-copy.png")).unwrap();
    let out = dir.path().join("out");
    let again = evidence.join("../evidence/a.png");
    let json = tiny_report(dir.path(), &trained, &[&evidence, &again], &out, &[]);
    let items = json["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["file"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.png", "forwarded-copy.png"]);
    let w = items[1]["warnings"].to_string();
    assert!(w.contains("the same bytes as item 1 (a.png"), "{w}");
    assert!(!items[0]["warnings"].to_string().contains("same bytes"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("the same bytes as item 1"));
}

/// A JPEG whose compressed data is damaged is reported with the damage named: in the file's facts,
/// the conclusion and the warnings, in the sidecar, the PDF and the HTML.
#[test]
fn damaged_jpeg_data_is_declared_in_the_report() {
    let (dir, _, _, trained, evidence) = probe_case();
    let (good, bad) = common::intact_and_damaged_jpeg();
    std::fs::write(evidence.join("intact.jpg"), &good).unwrap();
    std::fs::write(evidence.join("damaged.jpg"), &bad).unwrap();
    let out = dir.path().join("out");
    let json = tiny_report(dir.path(), &trained, &[&evidence], &out, &[]);
    let items = json["items"].as_array().unwrap();
    let item = |name: &str| {
        items
            .iter()
            .find(|i| i["file"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} not reported"))
    };
    let (d, ok) = (item("damaged.jpg"), item("intact.jpg"));
    let damage = d["file"]["data_damage"].as_str().expect("damage named");
    assert!(ok["file"]["data_damage"].is_null());
    let note = "compressed data is damaged";
    assert!(
        d["conclusion"].as_str().unwrap().contains(note),
        "{}",
        d["conclusion"]
    );
    assert!(!ok["conclusion"].as_str().unwrap().contains(note));
    assert!(d["warnings"].to_string().contains("damaged JPG data"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let esc = fauxscope::report::html::esc;
    assert!(
        html.contains(&format!("DAMAGED: {}", esc(damage))),
        "{damage}"
    );
    let pdf = fauxscope::report::pdf::extract_text(&std::fs::read(out.join("report.pdf")).unwrap());
    assert!(
        pdf.contains("compressed data"),
        "the PDF's facts name the damage"
    );
    assert!(pdf.contains("DAMAGED: "), "{pdf}");
}

/// `fauxscope verify`: a fresh report agrees with its sidecar; a changed picture or page, a moved
/// or changed evidence file, a sidecar naming a path outside its folder and a broken sidecar are
/// each told apart, and verification writes nothing.
#[test]
fn verify_checks_the_report_files_and_the_evidence_against_the_sidecar() {
    let (dir, real, fake, trained, evidence) = probe_case();
    std::fs::copy(real.join("r1.png"), evidence.join("a.png")).unwrap();
    std::fs::copy(fake.join("f1.png"), evidence.join("b.png")).unwrap();
    std::fs::write(evidence.join("broken.jpg"), b"\xff\xd8\xff\xe0 not really").unwrap();
    let out = dir.path().join("out");
    let sidecar = tiny_report(dir.path(), &trained, &[&evidence], &out, &[]);
    assert_eq!(
        sidecar["pictures"].as_array().unwrap().len(),
        8,
        "4 per item"
    );

    let bin = env!("CARGO_BIN_EXE_fauxscope");
    let verify = |args: &[&Path]| {
        let o = std::process::Command::new(bin)
            .arg("verify")
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code(), v)
    };
    fn entry<'a>(v: &'a Value, list: &str, name: &str) -> &'a Value {
        v[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {list}: {v}"))
    }
    let status_of = |v: &Value, list: &str, name: &str| {
        entry(v, list, name)["status"].as_str().unwrap().to_string()
    };
    let listing = |d: &Path| -> Vec<(PathBuf, String)> {
        let mut v: Vec<_> = walkdir::WalkDir::new(d)
            .into_iter()
            .map(|e| e.unwrap().into_path())
            .filter(|p| p.is_file())
            .map(|p| (p.clone(), fauxscope::fsutil::sha256_file(&p).unwrap()))
            .collect();
        v.sort();
        v
    };

    // As written: everything agrees, the skipped file (hashed, not analysed) included.
    let (before_out, before_ev) = (listing(&out), listing(&evidence));
    let (code, v) = verify(&[&out]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["verified"], true);
    assert_eq!(v["outputs"].as_array().unwrap().len(), 3 + 8);
    assert_eq!(v["evidence"].as_array().unwrap().len(), 3);
    assert_eq!(status_of(&v, "evidence", "broken.jpg"), "ok");
    assert!(v["evidence"][2]["index"].is_null());
    assert_eq!(
        listing(&out),
        before_out,
        "verify wrote into the report folder"
    );
    assert_eq!(listing(&evidence), before_ev, "verify changed the evidence");
    let text = std::process::Command::new(bin)
        .arg("verify")
        .arg(out.join("report.json"))
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("VERIFIED") && text.contains("not signed"),
        "{text}"
    );

    // One byte more in a picture and in the HTML page: both named, the rest still agree.
    for name in ["images/001-tam.jpg", "report.html"] {
        let mut b = std::fs::read(out.join(name)).unwrap();
        b.push(0);
        std::fs::write(out.join(name), b).unwrap();
    }
    // Evidence: a.png moved elsewhere, b.png changed in place.
    let moved = dir.path().join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::rename(evidence.join("a.png"), moved.join("renamed.png")).unwrap();
    std::fs::write(evidence.join("b.png"), b"other bytes").unwrap();
    let (code, v) = verify(&[&out]);
    assert_eq!(code, Some(1));
    assert_eq!(status_of(&v, "outputs", "images/001-tam.jpg"), "changed");
    assert_eq!(status_of(&v, "outputs", "report.html"), "changed");
    assert_eq!(status_of(&v, "outputs", "report.pdf"), "ok");
    assert_eq!(status_of(&v, "evidence", "a.png"), "missing");
    assert_eq!(entry(&v, "evidence", "a.png")["reason"], "no file there");
    assert_eq!(status_of(&v, "evidence", "b.png"), "changed");
    // Given where the evidence now is, the moved file is found by its hashes.
    let o = std::process::Command::new(bin)
        .arg("verify")
        .arg(&out)
        .arg("--evidence")
        .arg(&moved)
        .arg(&evidence)
        .arg("--json")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status_of(&v, "evidence", "a.png"), "elsewhere");
    let a = entry(&v, "evidence", "a.png");
    assert!(
        a["found_at"][0].as_str().unwrap().ends_with("renamed.png"),
        "{a}"
    );
    assert_eq!(status_of(&v, "evidence", "b.png"), "changed");
    let unmatched = v["unmatched"].to_string();
    assert!(
        unmatched.contains("b.png") && !unmatched.contains("renamed"),
        "{unmatched}"
    );

    // A sidecar that names a file outside its folder: that file is not read.
    let mut bad = sidecar.clone();
    bad["outputs"][0]["name"] = Value::from("../evidence/broken.jpg");
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("report.json"), bad.to_string()).unwrap();
    let (code, v) = verify(&[&other.join("report.json")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        status_of(&v, "outputs", "../evidence/broken.jpg"),
        "refused"
    );

    // A truncated sidecar: an error naming it, exit status 2.
    let json = std::fs::read(out.join("report.json")).unwrap();
    std::fs::write(other.join("report.json"), &json[..json.len() / 2]).unwrap();
    let o = std::process::Command::new(bin)
        .arg("verify")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("report.json") && err.contains("not a Fauxscope report sidecar"),
        "{err}"
    );
}

/// Evidence given by a relative path is recorded absolute, so the report verifies from any folder.
#[test]
fn a_report_made_from_relative_paths_verifies_from_another_folder() {
    let (dir, real, _, trained, evidence) = probe_case();
    std::fs::copy(real.join("r2.png"), evidence.join("c.png")).unwrap();
    run(tiny_command(dir.path(), "report")
        .current_dir(dir.path())
        .args(["evidence", "--out", "rel-report", "--compare", ""])
        .arg("--detector")
        .arg(&trained));
    let out = dir.path().join("rel-report");
    let json = valid_sidecar(&out);
    let recorded = json["items"][0]["file"]["path"].as_str().unwrap();
    assert!(Path::new(recorded).is_absolute(), "{recorded}");
    assert!(
        Path::new(recorded).ends_with("evidence/c.png"),
        "{recorded}"
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_fauxscope"))
        .current_dir(std::env::temp_dir())
        .arg("verify")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// A report signed with the examiner's key names its signer in the sidecar, the PDF and the
/// HTML; `verify --key` accepts it with that key only, and any change to the sidecar, a missing
/// signature or a stranger's key is named and fails.
#[test]
fn a_signed_report_names_its_signer_and_any_change_breaks_it() {
    let (dir, real, _, trained, evidence) = probe_case();
    std::fs::copy(real.join("r1.png"), evidence.join("a.png")).unwrap();
    let bin = env!("CARGO_BIN_EXE_fauxscope");
    let key_cmd = |data: &str| {
        let mut c = std::process::Command::new(bin);
        c.env("FAUXSCOPE_DATA_DIR", dir.path().join(data))
            .env_remove("FAUXSCOPE_KEY_PASSPHRASE")
            .env_remove("FAUXSCOPE_NEW_KEY_PASSPHRASE")
            .arg("key");
        c
    };
    // No key yet: `key show` and `key passphrase` say how to make one.
    for sub in ["show", "passphrase"] {
        let o = key_cmd("data").arg(sub).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("no examiner key at") && err.contains("key new"),
            "{sub}: {err}"
        );
    }
    // With no terminal to ask on, a new key needs its passphrase from the environment, or
    // --no-passphrase; nothing is written otherwise.
    let o = key_cmd("data")
        .args(["new", "--name", "Dana Reyes"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--no-passphrase"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dir.path().join("data/keys/examiner-key.json").exists());
    run(key_cmd("data")
        .env("FAUXSCOPE_KEY_PASSPHRASE", "dana's long passphrase")
        .args(["new", "--name", "Dana Reyes"]));
    let public = dir.path().join("data/keys/examiner-key.pub.json");
    run(key_cmd("other-data").args(["new", "--name", "Someone Else", "--no-passphrase"]));
    let stranger = dir.path().join("other-data/keys/examiner-key.pub.json");
    // A key is never replaced.
    let o = key_cmd("data")
        .args(["new", "--name", "Again", "--no-passphrase"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

    let out = dir.path().join("report");
    let signed_report = |passphrase: Option<&str>| {
        let mut c = tiny_command(dir.path(), "report");
        c.arg(&evidence)
            .arg("--out")
            .arg(&out)
            .arg("--detector")
            .arg(&trained)
            .args(["--compare", "", "--sign"])
            .env_remove("FAUXSCOPE_KEY_PASSPHRASE");
        if let Some(p) = passphrase {
            c.env("FAUXSCOPE_KEY_PASSPHRASE", p);
        }
        c.output().unwrap()
    };
    // The key is sealed: without its passphrase, or with a wrong one, nothing is written.
    for (p, says) in [
        (None, "protected by a passphrase"),
        (Some("not dana's passphrase"), "wrong passphrase"),
    ] {
        let o = signed_report(p);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains(says) && err.contains("examiner-key.json"),
            "{err}"
        );
        assert!(!out.exists());
    }
    run(tiny_command(dir.path(), "report")
        .arg(&evidence)
        .arg("--out")
        .arg(&out)
        .arg("--detector")
        .arg(&trained)
        .args(["--compare", "", "--sign"])
        .env("FAUXSCOPE_KEY_PASSPHRASE", "dana's long passphrase"));
    let json = valid_sidecar(&out);
    let fp = json["signer"]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(json["signer"]["name"], "Dana Reyes");
    let shown = std::process::Command::new(bin)
        .args(["key", "show"])
        .arg(&public)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&fp));
    let shown = key_cmd("data").arg("show").output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&fp) && shown.contains("sealed under a passphrase"),
        "{shown}"
    );
    // A new passphrase: the same key (and fingerprint), the old passphrase no longer opens it.
    run(key_cmd("data")
        .env("FAUXSCOPE_KEY_PASSPHRASE", "dana's long passphrase")
        .env("FAUXSCOPE_NEW_KEY_PASSPHRASE", "dana's newer passphrase")
        .arg("passphrase"));
    let key_file = dir.path().join("data/keys/examiner-key.json");
    assert!(fauxscope::report::signing::ExaminerKey::load(
        &key_file,
        Some("dana's long passphrase")
    )
    .is_err());
    let k =
        fauxscope::report::signing::ExaminerKey::load(&key_file, Some("dana's newer passphrase"))
            .unwrap();
    assert_eq!(k.signer().fingerprint, fp);
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let html = words(&std::fs::read_to_string(out.join("report.html")).unwrap());
    let pdf = words(&fauxscope::report::pdf::extract_text(
        &std::fs::read(out.join("report.pdf")).unwrap(),
    ));
    for text in [&html, &pdf] {
        assert!(
            text.contains(&format!("signed by Dana Reyes, key {fp}")),
            "{text}"
        );
    }

    let verify = |keys: &[&Path]| {
        let mut c = std::process::Command::new(bin);
        c.arg("verify").arg(&out).arg("--json");
        for k in keys {
            c.arg("--key").arg(k);
        }
        let o = c.output().unwrap();
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code(), v)
    };
    let (code, v) = verify(&[&public]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["signature"]["status"], "valid");
    assert!(v["signature"]["trusted_key"]
        .as_str()
        .unwrap()
        .ends_with("examiner-key.pub.json"));
    // Without a key: the signature is good, whose it is is not established.
    let (code, v) = verify(&[]);
    assert_eq!(
        (code, &v["signature"]["trusted_key"]),
        (Some(0), &Value::Null)
    );
    // A stranger's key: not verified.
    let (code, v) = verify(&[&stranger]);
    assert_eq!(code, Some(1));
    assert_eq!(v["signature"]["status"], "valid");
    assert_eq!(v["signature"]["trusted_key"], Value::Null);
    // Both keys given: one of them signed it.
    assert_eq!(verify(&[&stranger, &public]).0, Some(0));

    // The sidecar edited (one letter of the examiner's name): the signature no longer holds,
    // though every hash it lists still agrees.
    let sidecar = std::fs::read_to_string(out.join("report.json")).unwrap();
    let edited = sidecar.replacen("\"Dana Reyes\"", "\"Dana Reyez\"", 1);
    assert_ne!(edited, sidecar);
    std::fs::write(out.join("report.json"), &edited).unwrap();
    let (code, v) = verify(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(v["signature"]["status"], "bad");
    assert!(v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["status"] == "ok"));
    std::fs::write(out.join("report.json"), &sidecar).unwrap();
    assert_eq!(verify(&[&public]).0, Some(0));
    // The signature taken away: the sidecar still names its signer.
    let sig = std::fs::read(out.join("report.json.sig")).unwrap();
    std::fs::remove_file(out.join("report.json.sig")).unwrap();
    let (code, v) = verify(&[]);
    assert_eq!(code, Some(1));
    assert!(v["signature"]["reason"]
        .as_str()
        .unwrap()
        .contains("report.json.sig is missing"));
    std::fs::write(out.join("report.json.sig"), sig).unwrap();

    // Written again unsigned into the same folder: no stale signature is left; asking for a
    // signed report then fails.
    let json = tiny_report(dir.path(), &trained, &[&evidence], &out, &[]);
    assert!(json.get("signer").is_none());
    assert!(!out.join("report.json.sig").exists());
    let (code, v) = verify(&[]);
    assert_eq!(
        (code, &v["signature"]["status"]),
        (Some(0), &Value::from("unsigned"))
    );
    assert_eq!(verify(&[&public]).0, Some(1));

    // A key that is not there: named before any analysis, and nothing is written.
    let o = tiny_command(dir.path(), "report")
        .arg(&evidence)
        .arg("--out")
        .arg(dir.path().join("never"))
        .arg("--sign-key")
        .arg(dir.path().join("nokey.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nokey.json"));
    assert!(!dir.path().join("never").exists());
}
