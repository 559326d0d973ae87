use andon::check::synthetic::synthetic_history;
use andon::check::{LoadError, RunData};

use crate::helpers::*;

#[test]
fn a_saved_run_loads_back_the_same() {
    let dir = scratch("roundtrip");
    let run = synthetic_history(3_000, 11);
    run.save(&dir).unwrap();
    let back = RunData::load(&dir).unwrap();
    assert_eq!(back.records, run.records);
    assert_eq!(back.snapshots, run.snapshots);
    assert_eq!(back.master, run.master);
    assert_eq!(back.expect, run.expect);
    assert_eq!(back.dead_letters, run.dead_letters);
}

#[test]
fn without_dead_letters_the_capability_is_absent() {
    let dir = scratch("no-dead-letters");
    let mut run = synthetic_history(500, 3);
    run.dead_letters = Some(vec![serde_json::json!({ "id": "x" })]);
    run.save(&dir).unwrap();
    run.dead_letters = None;
    run.save(&dir).unwrap();
    assert!(!dir.join("dead-letters.json").exists());
    assert_eq!(RunData::load(&dir).unwrap().dead_letters, None);
}

#[test]
fn a_bad_history_line_names_the_file_and_line() {
    let dir = scratch("bad-line");
    synthetic_history(500, 3).save(&dir).unwrap();
    let file = dir.join("history.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"seq\": 3, \"record\": \"nonsense\"}";
    std::fs::write(&file, lines.join("\n")).unwrap();
    let err = RunData::load(&dir).unwrap_err();
    assert!(
        matches!(err, LoadError::HistoryLine { line: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("history.jsonl:3:"), "{msg}");
}

#[test]
fn a_missing_file_is_named() {
    let dir = scratch("missing");
    let err = RunData::load(&dir).unwrap_err();
    assert!(err.to_string().contains("history.jsonl"), "{err}");
}

#[test]
fn a_bad_line_deep_in_a_large_history_is_numbered_right() {
    let dir = scratch("bad-line-deep");
    synthetic_history(30_000, 3).save(&dir).unwrap();
    let file = dir.join("history.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.len() > 3 * (4 << 20),
        "the history spans several chunks"
    );
    let mut lines: Vec<&str> = text.lines().collect();
    lines[24_999] = "not json";
    lines[27_000] = "not json either";
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let err = RunData::load(&dir).unwrap_err();
    assert!(
        matches!(err, LoadError::HistoryLine { line: 25_000, .. }),
        "{err:?}"
    );
}
