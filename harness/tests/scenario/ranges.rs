//! Numbers and durations out of their documented range are refused with file, line and
//! column, never a panic or a run that cannot end; and whatever the three grammars
//! (scenario, manifest, threshold) are given, they answer with a value or a located error.

use andon::load::threshold::{MAX_LATENCY, Metric, Threshold};
use andon::scenario::MAX_FLOW_DEPTH;
use andon::scenario::Scenario;
use andon::scenario::validate::{MAX_LINES, MAX_MATERIALS, MAX_RATE, MAX_TIME_SCALE};
use andon::sut::SutManifest;
use andon_simulators::faults::Dur;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::helpers::refused;

const PLANT: &str = "plants: [{ id: \"1000\", lines: 1, materials: 4, profile: discrete }]\n";

fn scenario(body: &str) -> String {
    format!("name: r\nseed: 1\n{PLANT}{body}")
}

/// The first problem of a refused scenario, which must name a line.
fn first(text: &str) -> String {
    let problems = refused(text);
    assert!(!problems.is_empty(), "accepted:\n{text}");
    problems[0].clone()
}

#[test]
fn durations_beyond_thirty_days_are_refused_where_they_are_written() {
    for (body, line) in [
        ("duration: 1e20\nload: [{ at: 0s, rate: 10/s }]\n", 4),
        (
            "duration: 2s\nsettle: 1e20\nload: [{ at: 0s, rate: 10/s }]\n",
            5,
        ),
        (
            "duration: 2s\nsettle: 18446744073709551000s\nload: [{ at: 0s, rate: 10/s }]\n",
            5,
        ),
        ("duration: 2s\nload: [{ at: 1e20, rate: 10/s }]\n", 5),
        (
            "duration: 2s\nload: [{ at: 0s, rate: 10/s }]\nfaults: [{ at: 1s, target: erp, kind: unavailable, for: 1e20 }]\n",
            6,
        ),
    ] {
        let p = first(&scenario(body));
        assert!(p.contains(&format!(":{line}:")), "{p}");
        assert!(p.contains("out of range") || p.contains("30 days"), "{p}");
    }
}

#[test]
fn a_time_scale_or_rate_that_cannot_end_is_refused() {
    let p = first(&scenario(
        "duration: 2s\ntime_scale: 1e300\nload: [{ at: 0s, rate: 10/s }]\n",
    ));
    assert!(p.contains(":5:") && p.contains("time_scale"), "{p}");
    let p = first(&scenario(
        "duration: 2s\nload: [{ at: 0s, rate: 1e15/s }]\n",
    ));
    assert!(p.contains(":5:") && p.contains("at most"), "{p}");
}

#[test]
fn deep_nesting_is_refused_at_once_with_its_place() {
    let text = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let p = first(&text);
    assert!(p.contains(":1:68:"), "{p}");
    assert!(p.contains("deeper than 64"), "{p}");
}

#[test]
fn an_error_rate_outside_0_to_100_percent_judges_nothing_and_is_refused() {
    for t in [
        "error rate < 200 %",
        "error rate < -1 %",
        "error rate < 1.5",
    ] {
        assert!(t.parse::<Threshold>().is_err(), "{t} accepted");
    }
    assert!("error rate < 100 %".parse::<Threshold>().is_ok());
}

/// A fixed-seed runner of `cases` cases.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    )
}

/// Odd and extreme numbers, as a user might write them.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|x| format!("{x}")),
        any::<i64>().prop_map(|x| x.to_string()),
        any::<u64>().prop_map(|x| x.to_string()),
        Just("1e20".to_string()),
        Just("1e300".to_string()),
        Just("-0".to_string()),
        Just(".nan".to_string()),
        Just(".inf".to_string()),
        Just("18446744073709551616".to_string()),
        "[0-9]{1,30}(\\.[0-9]{0,5})?",
        "[a-zé€ ]{0,6}",
    ]
}

fn unit() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "", "s", "ms", "m", "h", "us", "/s", "/min", " %", "%", "d",
    ])
}

#[test]
fn the_scenario_grammar_answers_every_value_with_a_scenario_or_a_located_error() {
    let doc = (
        number(),
        unit(),
        number(),
        unit(),
        number(),
        number(),
        unit(),
        number(),
    )
        .prop_map(|(d, du, st, su, ts, r, ru, f)| {
            scenario(&format!(
                "duration: {d}{du}\nsettle: {st}{su}\ntime_scale: {ts}\n\
                 load: [{{ at: 0s, rate: {r}{ru} }}]\n\
                 faults: [{{ at: 1s, target: erp, kind: unavailable, for: {f} }}]\n"
            ))
        });
    runner(1_000)
        .run(&doc, |text| {
            match Scenario::parse(&text, "p.yaml") {
                Ok(s) => {
                    prop_assert!(s.duration.0 <= andon_simulators::faults::Dur::MAX);
                    prop_assert!(s.settle.0 <= andon_simulators::faults::Dur::MAX);
                    prop_assert!(s.time_scale > 0.0 && s.time_scale <= 1e6);
                    prop_assert!(s.load.iter().all(|p| p.rate.0 > 0.0 && p.rate.0 <= 1e6));
                }
                Err(e) => prop_assert!(e.to_string().starts_with("p.yaml:"), "{e}"),
            }
            Ok(())
        })
        .expect("no panic, every error located");
}

#[test]
fn the_threshold_grammar_answers_every_text_with_a_threshold_or_an_error() {
    let text = (
        prop::sample::select(vec![
            "p99",
            "p50",
            "p99.9",
            "max",
            "mean",
            "error rate",
            "throughput",
            "ingress p95",
            "",
        ]),
        prop::sample::select(vec!["<", "<=", ">", ">=", "=", "", "<<"]),
        number(),
        unit(),
        "( on [a-z.>\\- ]{0,12})?",
    )
        .prop_map(|(m, op, n, u, on)| format!("{m} {op} {n}{u}{on}"));
    runner(1_000)
        .run(&text, |t| {
            // Either way, no panic; an error says what was expected.
            match t.parse::<Threshold>() {
                Err(e) => prop_assert!(!e.to_string().is_empty()),
                // Anything accepted is within the documented range of its metric.
                Ok(th) => {
                    prop_assert!(th.limit.is_finite() && th.limit >= 0.0, "{t}: {}", th.limit);
                    match th.metric {
                        Metric::ErrorRate => prop_assert!(th.limit <= 1.0, "{t}"),
                        Metric::Latency(..) => {
                            prop_assert!(th.limit <= MAX_LATENCY.as_secs_f64() * 1e6, "{t}")
                        }
                        Metric::Throughput => {}
                    }
                }
            }
            Ok(())
        })
        .expect("no panic");
}

#[test]
fn the_manifest_grammar_answers_every_value_with_a_manifest_or_a_located_error() {
    let doc = (number(), unit(), number(), unit(), "[ -~]{0,20}").prop_map(|(rt, ru, g, gu, cmd)| {
        format!(
            "name = \"m\"\n[start]\ncommand = [\"{}\"]\nready = \"{{sut.url}}/health\"\n\
             ready_timeout = \"{rt}{ru}\"\nstop_grace = \"{g}{gu}\"\n[ingress]\n\
             erp = \"{{sut.url}}/e\"\nmes = \"{{sut.url}}/e\"\nqms = \"{{sut.url}}/e\"\nwms = \"{{sut.url}}/e\"\n",
            cmd.replace(['"', '\\'], "")
        )
    });
    runner(1_000)
        .run(&doc, |text| {
            match SutManifest::parse(&text, "sut.toml") {
                Err(e) => prop_assert!(e.to_string().starts_with("sut.toml:"), "{e}"),
                Ok(m) => {
                    let start = m.start.expect("[start] was given");
                    for d in [start.ready_timeout, start.stop_grace] {
                        prop_assert!(!d.is_zero() && d <= Dur::MAX, "{text}");
                    }
                }
            }
            Ok(())
        })
        .expect("no panic, every error located");
}

/// The ranges table of docs/ranges.md, rendered from the constants the loaders check.
fn scenario_ranges() -> String {
    let days = Dur::MAX.as_secs() / 86_400;
    let rows = [
        (
            "`duration`, `settle`, a load phase's `at` and `for`, a fault's `at` and `for`"
                .to_string(),
            format!(
                "0 to {days} days (a bare number is seconds: 0 to {})",
                Dur::MAX.as_secs()
            ),
        ),
        (
            "`time_scale`".into(),
            format!("above 0, at most {MAX_TIME_SCALE}"),
        ),
        (
            "a load phase's `rate`".into(),
            format!("above 0, at most {MAX_RATE} per second"),
        ),
        ("`plants[].lines`".into(), format!("1 to {MAX_LINES}")),
        (
            "`plants[].materials`".into(),
            format!("1 to {MAX_MATERIALS}"),
        ),
        (
            "`mix` shares".into(),
            "a finite number of at least 0; not all 0".into(),
        ),
        (
            "nesting of `[ ]` and `{ }`".into(),
            format!("at most {MAX_FLOW_DEPTH} levels"),
        ),
        ("threshold: error rate".into(), "0 % to 100 %".into()),
        (
            "threshold: percentile `pN`".into(),
            "above 0, at most 100".into(),
        ),
        (
            "threshold: latency bound".into(),
            format!("0 to {} days", MAX_LATENCY.as_secs() / 86_400),
        ),
        (
            "threshold: throughput bound".into(),
            "a finite number of at least 0".into(),
        ),
    ];
    table(&rows)
}

/// The ranges table of docs/manifest.md.
fn manifest_ranges() -> String {
    let days = Dur::MAX.as_secs() / 86_400;
    table(&[(
        "`ready_timeout`, `stop_grace`".to_string(),
        format!("above 0 s, at most {days} days"),
    )])
}

fn table(rows: &[(String, String)]) -> String {
    let mut t = String::from("| value | range |\n|---|---|\n");
    for (what, range) in rows {
        t.push_str(&format!("| {what} | {range} |\n"));
    }
    t
}

/// The text between `<!-- ranges:begin -->` and `<!-- ranges:end -->` of a docs page.
fn documented(page: &str) -> String {
    let path = format!("{}/../docs/{page}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let begin = "<!-- ranges:begin -->\n";
    let from = text
        .find(begin)
        .unwrap_or_else(|| panic!("{path}: no {begin}"))
        + begin.len();
    let to = text[from..]
        .find("<!-- ranges:end -->")
        .expect("ranges:end")
        + from;
    text[from..to].to_string()
}

#[test]
fn the_documented_ranges_are_the_ones_the_loaders_check() {
    assert_eq!(
        documented("ranges.md"),
        scenario_ranges(),
        "regenerate docs/ranges.md's table"
    );
    assert_eq!(
        documented("manifest.md"),
        manifest_ranges(),
        "regenerate docs/manifest.md's table"
    );
}

#[test]
fn a_latency_threshold_beyond_thirty_days_is_refused() {
    let e = "p99 < 100000000000000000000s"
        .parse::<Threshold>()
        .unwrap_err();
    assert_eq!(e.column, 7, "{e}");
    assert!(e.message.contains("at most 30 days"), "{e}");
    assert!("max < 43200m".parse::<Threshold>().is_ok());
}
