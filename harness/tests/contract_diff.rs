//! `andon contract diff` as a user runs it: the fixtures under
//! `tests/fixtures/contract-diff/` (an OpenAPI 3.0 vendor upgrade, an OpenAPI 3.1 pair in
//! JSON, an AsyncAPI 3 pair, a malformed file), the exit codes 0/1/2, the key lines of each
//! format, and the project's ERP contract against itself.

use std::path::{Path, PathBuf};
use std::process::Command;

const ANDON: &str = env!("CARGO_BIN_EXE_andon");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/contract-diff")
        .join(name)
}

/// Runs `andon contract diff ARGS…`: (exit code, stdout, stderr).
fn diff(args: &[&Path], extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(ANDON)
        .args(["contract", "diff"])
        .args(args)
        .args(extra)
        .output()
        .expect("andon runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "andon panicked: {stderr}");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn an_openapi_30_vendor_upgrade_with_breaking_changes_exits_1() {
    let (code, out, err) = diff(
        &[
            &fixture("erp-2408.openapi30.yaml"),
            &fixture("erp-2502.openapi30.yaml"),
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    let post = "POST /api/v1/goods-movements";
    let get = "GET /api/v1/material-documents/{year}/{document}";
    let expected = [
        format!("BREAKING  {get}  /responses/200/year  required field made optional"),
        "BREAKING  GET /api/v1/stock  -  operation removed".to_string(),
        format!(
            "BREAKING  {post}  /parameters/header/Idempotency-Key  optional parameter made required"
        ),
        format!(
            "BREAKING  {post}  /requestBody/header_text  field removed from a closed schema: senders of it now fail"
        ),
        format!("BREAKING  {post}  /requestBody/movement_type  enum values removed: \"311\""),
        format!("BREAKING  {post}  /requestBody/storage_location  optional field made required"),
        format!("BREAKING  {post}  /responses/201/year  required field made optional"),
        format!(
            "compatible  {get}  /responses/200/items/[]/quantity/iso_unit  field added (optional)"
        ),
        format!(
            "compatible  {get}  /responses/200/items/[]/stock_type  enum values added: \"restricted\" (note: clients must tolerate values they do not know)"
        ),
        "compatible  GET /api/v2/stock  -  operation added".to_string(),
        format!("compatible  {post}  /requestBody/batch  type changed from string to null|string"),
        format!("compatible  {post}  /requestBody/movement_type  enum values added: \"201\""),
        format!("compatible  {post}  /requestBody/quantity/iso_unit  optional field added"),
        format!("compatible  {post}  /requestBody/reference  optional field added"),
        format!(
            "compatible  {post}  /responses/201/items/[]/quantity/iso_unit  field added (optional)"
        ),
        format!(
            "compatible  {post}  /responses/201/items/[]/stock_type  enum values added: \"restricted\" (note: clients must tolerate values they do not know)"
        ),
        format!("compatible  {post}  /responses/409  status 409 added"),
        format!("compatible  {post}  /responses/422  status 422 removed"),
        "7 breaking, 11 compatible changes".to_string(),
    ];
    assert_eq!(lines(&out), expected, "{out}");
}

#[test]
fn an_openapi_31_pair_in_json_with_only_compatible_changes_exits_0() {
    let (code, out, err) = diff(
        &[
            &fixture("mes-1.0.openapi31.json"),
            &fixture("mes-1.1.openapi31.json"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let l = lines(&out);
    assert!(l.iter().all(|l| !l.starts_with("BREAKING")), "{out}");
    for line in [
        "compatible  GET /orders/{order}/operations  -  operation added",
        "compatible  POST /confirmations  /requestBody/personnel  optional field added",
        "compatible  POST /confirmations  /requestBody/work_center  required field made optional",
        "compatible  POST /confirmations  /requestBody/reason  enum values added: \"material\"",
        "compatible  POST /confirmations  /responses/201/posted_at  field added (optional)",
        "compatible  POST /confirmations  /responses/409  status 409 added",
    ] {
        assert!(l.contains(&line), "no {line:?} in\n{out}");
    }
    assert_eq!(l.last(), Some(&"0 breaking, 6 compatible changes"));
}

#[test]
fn an_asyncapi_3_pair_exits_1_on_removed_and_retyped_fields() {
    let (code, out, err) = diff(
        &[
            &fixture("plant-events-1.asyncapi3.yaml"),
            &fixture("plant-events-2.asyncapi3.yaml"),
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    let expected = [
        "BREAKING  channel acks  /messages/delivery.ack/payload/received_at  new required field",
        "BREAKING  channel mes  /messages/material.consumed/payload/batch  required field removed",
        "BREAKING  channel mes  /messages/material.consumed/payload/quantity/value  type changed from number to string",
        "BREAKING  channel qms  -  channel removed",
        "BREAKING  operation sendQms  -  operation removed",
        "compatible  channel mes  /messages/material.consumed/payload/lot  field added (optional)",
        "compatible  channel mes  /messages/material.scrapped  message added",
        "compatible  operation sendMes  /messages/material.scrapped  message added to the operation",
        "5 breaking, 3 compatible changes",
    ];
    assert_eq!(lines(&out), expected, "{out}");
}

#[test]
fn the_erp_contract_against_itself_exits_0_with_no_changes() {
    let erp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/openapi/erp.yaml");
    let (code, out, err) = diff(&[&erp, &erp], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0 breaking, 0 compatible changes\n");
}

#[test]
fn json_output_is_the_changes_and_the_summary() {
    let (code, out, _) = diff(
        &[
            &fixture("plant-events-1.asyncapi3.yaml"),
            &fixture("plant-events-2.asyncapi3.yaml"),
        ],
        &["--format", "json"],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let changes = v["changes"].as_array().expect("an array of changes");
    assert_eq!(changes.len(), 8);
    assert_eq!(changes[0]["severity"], "breaking");
    assert_eq!(changes[0]["operation"], "channel acks");
    assert_eq!(
        changes[0]["pointer"],
        "/messages/delivery.ack/payload/received_at"
    );
    assert_eq!(changes[0]["change"], "new required field");
    assert_eq!(changes[0]["rule"], "input-field-newly-required");
    assert_eq!(v["summary"]["breaking"], 5);
    assert_eq!(v["summary"]["compatible"], 3);
    assert_eq!(v["summary"]["text"], "5 breaking, 3 compatible changes");
}

#[test]
fn markdown_output_is_a_table_and_the_summary() {
    let (code, out, _) = diff(
        &[
            &fixture("mes-1.0.openapi31.json"),
            &fixture("mes-1.1.openapi31.json"),
        ],
        &["--format", "markdown"],
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("| Severity | Operation | Pointer | Change |\n| --- | --- | --- | --- |\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "| compatible | `POST /confirmations` | `/responses/409` | status 409 added |"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("\n0 breaking, 6 compatible changes\n"),
        "{out}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let erp = fixture("erp-2408.openapi30.yaml");
    let (code, out, err) = diff(&[&erp, &fixture("malformed.yaml")], &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    let malformed = fixture("malformed.yaml").display().to_string();
    assert!(
        err.starts_with(&format!("andon contract diff: {malformed}:")),
        "{err}"
    );
    let position: Vec<&str> = err[err.find("malformed.yaml:").expect("file") + 15..]
        .splitn(3, ':')
        .take(2)
        .collect();
    assert!(
        position.iter().all(|p| p.parse::<usize>().is_ok()),
        "line and column: {err}"
    );

    let (code, _, err) = diff(&[&fixture("swagger2.yaml"), &erp], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("swagger2.yaml: not an OpenAPI 3.x or AsyncAPI 3 document"),
        "{err}"
    );

    let (code, _, err) = diff(&[&erp, &fixture("plant-events-1.asyncapi3.yaml")], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("is OpenAPI 3.0 but"), "{err}");
    assert!(err.contains("is AsyncAPI 3"), "{err}");

    let (code, _, err) = diff(&[&fixture("no-such-file.yaml"), &erp], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-file.yaml: cannot read"), "{err}");
}
