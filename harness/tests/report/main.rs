//! The reporters on a fixed run: golden files for `verdict.json`, `junit.xml` and
//! `report.html`, and the properties each must keep (well-formed XML and SVG, unknown
//! never a pass, nothing fetched by the page, every text escaped).

mod helpers;

use andon::check::Status;
use andon::report::html::Html;
use andon::report::junit::Junit;
use andon::report::verdict::VerdictJson;
use andon::report::{Exit, Reporter, RunReport, Timeline, write_all};
use helpers::{assert_golden, check_well_formed, fixture, svgs};

fn render(reporter: &dyn Reporter, report: &RunReport) -> String {
    reporter.render(report).expect("renders")
}

#[test]
fn verdict_json_matches_its_golden_file() {
    assert_golden("verdict.json", &render(&VerdictJson, &fixture()));
}

#[test]
fn junit_xml_matches_its_golden_file() {
    assert_golden("junit.xml", &render(&Junit, &fixture()));
}

#[test]
fn report_html_matches_its_golden_file() {
    assert_golden("report.html", &render(&Html, &fixture()));
}

#[test]
fn rendering_the_same_report_twice_gives_the_same_bytes() {
    let (a, b) = (fixture(), fixture());
    for r in andon::report::reporters() {
        assert_eq!(
            render(r.as_ref(), &a),
            render(r.as_ref(), &b),
            "{}",
            r.name()
        );
    }
}

#[test]
fn verdict_json_has_percentiles_but_no_raw_samples() {
    let text = render(&VerdictJson, &fixture());
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["exit"], "fail");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(
        v["summary"],
        serde_json::json!({"pass": 2, "fail": 1, "unknown": 1})
    );
    let hold = &v["latency"]["qms.hold -> wms"];
    assert_eq!(hold["count"], 60);
    assert!(hold["p99_us"].as_u64().expect("p99") > 2_000_000);
    assert!(
        v.get("latencies").is_none(),
        "raw samples stay out of verdict.json"
    );
    assert_eq!(v["verdicts"][3]["status"], "unknown");
    assert_eq!(v["throughput"].as_array().map(Vec::len), Some(60));
}

#[test]
fn junit_xml_is_well_formed() {
    let xml = render(&Junit, &fixture());
    check_well_formed(&xml, false).expect("junit.xml is well-formed XML");
}

#[test]
fn junit_reports_unknown_as_skipped_and_failure_with_witnesses() {
    let xml = render(&Junit, &fixture());
    assert!(xml.contains(
        r#"<testsuite name="cloud-erp-downtime-at-shift-change" tests="4" failures="1" errors="0" skipped="1""#
    ));
    let case = |name: &str| {
        let start = xml
            .find(&format!(r#"<testcase name="{name}""#))
            .expect(name);
        let end = xml[start..]
            .find("</testcase>")
            .map_or(xml.len(), |e| start + e);
        &xml[start..end]
    };
    assert!(case("sla").contains(
        r#"<skipped message="unknown: route &quot;qms.release -&gt; wms&quot; had no event"#
    ));
    assert!(!case("sla").contains("<failure"));
    let failed = case("exactly_once");
    assert!(
        failed
            .contains(r#"<failure message="1 lost &amp; 1 duplicated effect out of 1840 events""#)
    );
    assert!(failed.contains("expected: one goods movement 261 for &lt;order 100000001&gt; &amp; batch &quot;B000123&quot;"));
    assert!(failed.contains("trace id: 0af7651916cd43dd8448eb211c80319c"));
    assert!(xml.contains(r#"<testcase name="ordering" classname="andon.cloud-erp-downtime-at-shift-change" time="0"/>"#));
}

#[test]
fn junit_turns_a_run_error_into_an_error_case() {
    let mut r = fixture();
    r.verdicts.clear();
    r.exit = Exit::Error(
        "the SUT never became ready within 30s\nlast log line: <panic> & \"abort\"".into(),
    );
    let xml = render(&Junit, &r);
    check_well_formed(&xml, false).expect("well-formed");
    assert!(xml.contains(r#"tests="1" failures="0" errors="1" skipped="0""#));
    assert!(
        xml.contains(r#"<error message="the SUT never became ready within 30s" type="run-error">"#)
    );
    assert!(xml.contains("last log line: &lt;panic&gt; &amp; &quot;abort&quot;"));
}

#[test]
fn html_is_balanced_and_every_svg_is_well_formed_xml() {
    let html = render(&Html, &fixture());
    check_well_formed(&html, true).expect("report.html has balanced tags");
    let svgs = svgs(&html);
    assert_eq!(
        svgs.len(),
        2 + 3,
        "timeline, throughput and one curve per route"
    );
    for svg in svgs {
        check_well_formed(svg, false).unwrap_or_else(|e| panic!("{e} in\n{svg}"));
    }
}

#[test]
fn html_fetches_nothing() {
    let html = render(&Html, &fixture());
    for banned in [
        "<script", "<link", "<img", "<iframe", "@import", "url(", "src=",
    ] {
        assert!(!html.contains(banned), "report.html contains {banned}");
    }
    for (i, _) in html.match_indices("href=\"") {
        let value = &html[i + 6..];
        assert!(
            value.starts_with('#'),
            "non-local link: {}",
            &value[..40.min(value.len())]
        );
    }
    // The only addresses are text of the witnesses.
    let witnesses = html
        .find(r#"<section id="witnesses">"#)
        .expect("witnesses section");
    let witnesses_end = witnesses + html[witnesses..].find("</section>").expect("section end");
    for scheme in ["http://", "https://"] {
        for (i, _) in html.match_indices(scheme) {
            assert!(
                (witnesses..witnesses_end).contains(&i),
                "{scheme} outside the witnesses at byte {i}: {}",
                &html[i.saturating_sub(60)..i + 20]
            );
        }
    }
}

#[test]
fn html_escapes_every_text_of_the_run() {
    let html = render(&Html, &fixture());
    assert!(html.contains("&lt;hold id=&quot;H1&quot;/&gt;"));
    assert!(!html.contains("<hold"));
    assert!(html.contains("reference middleware (R&amp;D build)"));
    assert!(html.contains("1 lost &amp; 1 duplicated effect"));
}

#[test]
fn html_shows_unknown_and_fail_badges_and_never_fired_faults() {
    let html = render(&Html, &fixture());
    assert!(html.contains(r##"<a href="#checker-sla"><span class="chk"><span class="badge unknown">unknown</span> sla</span></a>"##));
    assert!(html.contains(r#"<h3 id="checker-exactly_once"><span class="badge fail">fail</span>"#));
    assert!(html.contains("f2 · never fired"));
    assert!(html.contains("not cleared"));
}

#[test]
fn an_empty_run_renders_without_charts() {
    let mut r = fixture();
    r.timeline = Timeline::default();
    r.throughput.clear();
    r.latencies.clear();
    r.verdicts.retain(|v| v.status == Status::Pass);
    r.exit = Exit::Pass;
    let html = render(&Html, &r);
    check_well_formed(&html, true).expect("balanced");
    assert!(svgs(&html).is_empty());
    assert!(html.contains("No fault was applied in this run."));
    assert!(html.contains("No traffic was recorded."));
    assert!(!html.contains(r#"id="witnesses""#));
    let xml = render(&Junit, &r);
    assert!(xml.contains(r#"tests="2" failures="0" errors="0" skipped="0""#));
}

#[test]
fn write_all_writes_the_three_files_into_the_run_directory() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-write-all");
    let _ = std::fs::remove_dir_all(&dir);
    let r = fixture();
    let written = write_all(&dir.join("run"), &r).expect("written");
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["verdict.json", "junit.xml", "report.html"]);
    assert_eq!(
        std::fs::read_to_string(&written[2]).unwrap(),
        render(&Html, &r)
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("run"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_synthetic_run_reports_the_same_routes_and_counts_as_the_sla_checker() {
    use andon::check::synthetic::synthetic_history;
    use andon::report::RunMeta;

    let run = synthetic_history(5_000, 7);
    let verdicts: Vec<_> = andon::check::all(&run.expect)
        .iter()
        .map(|c| c.check(&run))
        .collect();
    let sla = verdicts
        .iter()
        .find(|v| v.checker == "sla")
        .expect("the SLA checker ran")
        .details
        .clone();
    let (first, last) = (
        run.records.first().expect("records").at,
        run.records.last().expect("records").at,
    );
    let meta = RunMeta {
        scenario: "synthetic".into(),
        seed: 7,
        andon_version: env!("CARGO_PKG_VERSION").into(),
        sut: "synthetic".into(),
        started: first,
        ended: last,
        exit: Exit::Pass,
        sut_actions: vec![],
    };
    let report = RunReport::from_run(meta, &run, verdicts);

    let routes = sla["routes"].as_object().expect("SLA details name routes");
    let from_sla: std::collections::BTreeMap<&str, u64> = routes
        .iter()
        .filter_map(|(r, d)| Some((r.as_str(), d["all"]["count"].as_u64().filter(|n| *n > 0)?)))
        .collect();
    let ours: std::collections::BTreeMap<&str, u64> = report
        .latencies
        .iter()
        .map(|(r, s)| (r.as_str(), s.len() as u64))
        .collect();
    assert!(!ours.is_empty());
    assert_eq!(
        ours, from_sla,
        "routes and sample counts agree with the SLA checker"
    );
    assert!(
        !report.timeline.faults.is_empty(),
        "the synthetic run has a fault"
    );
    let emitted: u64 = report.throughput.iter().map(|p| p.events_emitted).sum();
    assert!(emitted > 0);

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-synthetic");
    let written = write_all(&dir, &report).expect("written");
    let html = std::fs::read_to_string(&written[2]).expect("html");
    check_well_formed(&html, true).expect("balanced");
    for svg in svgs(&html) {
        check_well_formed(svg, false).unwrap_or_else(|e| panic!("{e} in\n{svg}"));
    }
    let xml = std::fs::read_to_string(&written[1]).expect("junit");
    check_well_formed(&xml, false).expect("junit well-formed");
}
