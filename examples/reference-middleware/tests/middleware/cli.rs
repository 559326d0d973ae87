//! The binary's command line.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_andon-reference-middleware"));
    c.env_clear();
    c
}

#[test]
fn list_defects_prints_every_defect_with_the_bug_it_imitates() {
    let out = bin().arg("--list-defects").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        andon_reference_middleware::Defect::ALL.len(),
        "{text}"
    );
    for d in andon_reference_middleware::Defect::ALL {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{} — ", d.name()))),
            "{d} listed"
        );
    }
}

#[test]
fn an_unknown_defect_is_a_usage_error() {
    let out = bin().args(["--defect", "meteor"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown defect \"meteor\""));
}
