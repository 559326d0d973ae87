//! The `andon test` summary: scenario outcomes read back from `cucumber.json`, and a
//! self-contained `report.html` linking each scenario to its run's own report.

use std::path::Path;

use serde_json::Value;

use super::console::Outcome;
use super::{ScenarioResult, TestError, TestOptions, scenario_slug};

/// Reads the outcome of every scenario from a Cucumber JSON report. A scenario with a
/// failed step failed; one with a skipped or undefined step and no failure was skipped
/// (`skipped` names why, by `Feature: Scenario`).
pub fn read_cucumber_json(
    file: &Path,
    report_dir: &Path,
    skipped: &[(String, String)],
) -> Result<Vec<ScenarioResult>, TestError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| TestError::Config(format!("cannot read {}: {e}", file.display())))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| TestError::Config(format!("{}: not JSON: {e}", file.display())))?;
    let mut out = Vec::new();
    for f in doc.as_array().into_iter().flatten() {
        let uri = f["uri"].as_str().unwrap_or("").to_string();
        let feature = f["name"].as_str().unwrap_or("").to_string();
        for el in f["elements"].as_array().into_iter().flatten() {
            if el["type"].as_str() == Some("background") {
                continue;
            }
            let name = el["name"].as_str().unwrap_or("").to_string();
            let line = el["line"].as_u64().unwrap_or(0) as usize;
            let mut status = "passed";
            let mut message = None;
            for st in el["steps"].as_array().into_iter().flatten() {
                match st["result"]["status"].as_str().unwrap_or("undefined") {
                    "passed" => {}
                    "failed" => {
                        let text = st["result"]["error_message"].as_str().unwrap_or("");
                        let (outcome, words) = Outcome::of_text(text);
                        status = outcome.status();
                        message = Some(words);
                        break;
                    }
                    _ => {
                        status = "skipped";
                        let title = format!("{feature}: {name}");
                        message = skipped
                            .iter()
                            .find(|(n, _)| *n == title)
                            .map(|(_, why)| why.clone())
                            .or_else(|| {
                                Some(format!(
                                    "step skipped: {}{}",
                                    st["keyword"].as_str().unwrap_or(""),
                                    st["name"].as_str().unwrap_or("")
                                ))
                            });
                    }
                }
            }
            let slug = scenario_slug(Some(Path::new(&uri)), line, &name);
            let run_dir = format!("runs/{slug}");
            let run_dir = if report_dir.join(&run_dir).exists() {
                run_dir
            } else {
                String::new()
            };
            out.push(ScenarioResult {
                uri: uri.clone(),
                feature: feature.clone(),
                name,
                line,
                status: status.to_string(),
                message,
                run_dir,
            });
        }
    }
    Ok(out)
}

/// Rewrites the `error_message` of every failed step of a Cucumber JSON report in andon's
/// words (cucumber words every failed step as `Step panicked`), keeping the `Matched:`
/// line, and marks the failed steps of inconclusive scenarios in their message.
pub fn reword_cucumber_json(file: &Path) -> Result<(), TestError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| TestError::Config(format!("cannot read {}: {e}", file.display())))?;
    let mut doc: Value = serde_json::from_str(&text)
        .map_err(|e| TestError::Config(format!("{}: not JSON: {e}", file.display())))?;
    for f in doc.as_array_mut().into_iter().flatten() {
        for el in f["elements"].as_array_mut().into_iter().flatten() {
            for st in el["steps"].as_array_mut().into_iter().flatten() {
                let Some(msg) = st["result"]["error_message"].as_str() else {
                    continue;
                };
                let matched = msg
                    .split_once('\n')
                    .filter(|(first, _)| first.starts_with("Matched: "))
                    .map(|(first, _)| format!("{first}\n"))
                    .unwrap_or_default();
                let (_, words) = Outcome::of_text(msg);
                st["result"]["error_message"] = Value::String(format!("{matched}{words}"));
            }
        }
    }
    let out = serde_json::to_string_pretty(&doc)
        .map_err(|e| TestError::Config(format!("cannot write {}: {e}", file.display())))?;
    std::fs::write(file, out)
        .map_err(|e| TestError::Config(format!("cannot write {}: {e}", file.display())))
}

/// `junit.xml`: one test suite per feature file, one test case per scenario; a failed
/// scenario is a `<failure type="failed">`, an inconclusive one a `<failure
/// type="inconclusive">` (CI systems must not count it as passed), a panic of andon an
/// `<error>`, a skipped one `<skipped>` with the reason.
pub fn junit_xml(scenarios: &[ScenarioResult]) -> String {
    let attr = |s: &str| esc(s).replace('\n', "&#10;");
    let mut suites: Vec<(&str, Vec<&ScenarioResult>)> = Vec::new();
    for s in scenarios {
        match suites.iter_mut().find(|(u, _)| *u == s.uri) {
            Some((_, v)) => v.push(s),
            None => suites.push((&s.uri, vec![s])),
        }
    }
    let count = |v: &[&ScenarioResult], st: &str| v.iter().filter(|s| s.status == st).count();
    let panicked = |s: &ScenarioResult| {
        s.message
            .as_deref()
            .is_some_and(|m| m.starts_with("andon panicked"))
    };
    let all: Vec<&ScenarioResult> = scenarios.iter().collect();
    // A panic of andon, or a configuration error: not a verdict on the middleware.
    let errors = all
        .iter()
        .filter(|s| panicked(s) || s.status == "error")
        .count();
    let panics = |v: &[&ScenarioResult]| v.iter().filter(|s| panicked(s)).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"andon test\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" skipped=\"{}\">\n",
        all.len(),
        count(&all, "failed") + count(&all, "inconclusive") - panics(&all),
        count(&all, "skipped")
    ));
    for (uri, v) in &suites {
        let errs = panics(v) + count(v, "error");
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{errs}\" skipped=\"{}\">\n",
            attr(uri),
            v.len(),
            count(v, "failed") + count(v, "inconclusive") - panics(v),
            count(v, "skipped")
        ));
        for s in v {
            x.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\">",
                attr(&format!("{}: {}", s.feature, s.name)),
                attr(&format!("{}:{}", s.uri, s.line))
            ));
            let msg = s.message.as_deref().unwrap_or("");
            let first = msg.lines().next().unwrap_or("");
            match s.status.as_str() {
                "passed" => {}
                "skipped" => x.push_str(&format!("<skipped message=\"{}\"/>", attr(first))),
                _ if panicked(s) => x.push_str(&format!(
                    "\n      <error type=\"panic\" message=\"{}\">{}</error>\n    ",
                    attr(first),
                    esc(msg)
                )),
                "error" => x.push_str(&format!(
                    "\n      <error type=\"configuration\" message=\"{}\">{}</error>\n    ",
                    attr(first),
                    esc(msg)
                )),
                st => x.push_str(&format!(
                    "\n      <failure type=\"{st}\" message=\"{}\">{}</failure>\n    ",
                    attr(first),
                    esc(msg)
                )),
            }
            x.push_str("</testcase>\n");
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The summary page: counts, then one row per scenario with its status, its first failure
/// and a link to its run's report.
pub fn index_html(scenarios: &[ScenarioResult], opts: &TestOptions) -> String {
    let n = |s: &str| scenarios.iter().filter(|x| x.status == s).count();
    let mut rows = String::new();
    for s in scenarios {
        let link = if s.run_dir.is_empty() {
            "—".to_string()
        } else {
            format!("<a href=\"{0}/report.html\">{0}</a>", esc(&s.run_dir))
        };
        rows.push_str(&format!(
            "<tr class=\"{st}\"><td>{st}</td><td>{feat}<br><small>{uri}:{line}</small></td><td>{name}</td><td><pre>{msg}</pre></td><td>{link}</td></tr>\n",
            st = esc(&s.status),
            feat = esc(&s.feature),
            uri = esc(&s.uri),
            line = s.line,
            name = esc(&s.name),
            msg = esc(s.message.as_deref().unwrap_or("")),
        ));
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>andon test</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 6px; text-align: left; vertical-align: top; }}
pre {{ margin: 0; white-space: pre-wrap; font-size: 12px; }}
tr.failed td:first-child {{ color: #b00020; font-weight: bold; }}
tr.passed td:first-child {{ color: #1b5e20; }}
tr.skipped td:first-child {{ color: #8d6e00; }}
tr.inconclusive td:first-child {{ color: #8d6e00; font-weight: bold; }}
tr.error td:first-child {{ color: #b00020; font-weight: bold; }}
.counts span {{ margin-right: 1.5em; }}
</style></head><body>
<h1>andon test</h1>
<p>SUT: {sut} · tags: {tags} · {features}</p>
<p class="counts"><span>{total} scenarios</span><span>{passed} passed</span><span>{failed} failed</span><span>{inconclusive} inconclusive</span><span>{errors} configuration errors</span><span>{skipped} skipped</span></p>
<table><tr><th>status</th><th>feature</th><th>scenario</th><th>first failure / reason</th><th>run</th></tr>
{rows}</table>
<p><small>Also in this directory: junit.xml, cucumber.json; each run directory holds the history, verdict.json and its own report.</small></p>
</body></html>
"#,
        sut = esc(&opts
            .sut
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "bundled reference middleware".into())),
        tags = esc(opts.tags.as_deref().unwrap_or("(all)")),
        features = esc(&opts
            .features
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")),
        total = scenarios.len(),
        passed = n("passed"),
        failed = n("failed"),
        inconclusive = n("inconclusive"),
        errors = n("error"),
        skipped = n("skipped"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_read_from_cucumber_json() {
        let dir = std::env::temp_dir().join(format!("andon-bdd-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cucumber.json");
        std::fs::write(
            &file,
            r#"[{"uri":"features/a.feature","name":"F","elements":[
              {"type":"scenario","name":"ok","line":3,"steps":[{"keyword":"Given ","name":"x","result":{"status":"passed"}}]},
              {"type":"scenario","name":"bad","line":7,"steps":[{"keyword":"Then ","name":"y","result":{"status":"failed","error_message":"boom"}}]},
              {"type":"scenario","name":"cap","line":9,"steps":[{"keyword":"Given ","name":"z","result":{"status":"skipped"}}]}
            ]}]"#,
        )
        .unwrap();
        let r =
            read_cucumber_json(&file, &dir, &[("F: cap".into(), "no capability".into())]).unwrap();
        let st: Vec<(&str, Option<&str>)> = r
            .iter()
            .map(|s| (s.status.as_str(), s.message.as_deref()))
            .collect();
        assert_eq!(
            st,
            [
                ("passed", None),
                ("failed", Some("boom")),
                ("skipped", Some("no capability"))
            ]
        );
        let opts = TestOptions {
            features: vec!["features".into()],
            sut: None,
            tags: None,
            runtime: super::super::RuntimeKind::InProcess,
            concurrency: 1,
            report_dir: dir.clone(),
            fail_fast: false,
            andon: None,
            erp_dialect: None,
            transport: None,
        };
        let html = index_html(&r, &opts);
        assert!(html.contains("1 failed") && html.contains("boom") && !html.contains("http"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
