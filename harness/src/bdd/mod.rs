//! `andon test`: Gherkin features over the step library, run by the `cucumber` crate.
//!
//! Before anything runs, every feature file is parsed and every step is matched against
//! [`steps::library`]: a bad file, an undefined step (with the closest library steps) or an
//! ambiguous one is a configuration error naming file and line. Then cucumber runs the
//! selected scenarios (tag expression, concurrency, fail-fast) — each scenario builds a
//! scenario document, runs it through the engine into its own run directory, and judges
//! it with the checkers — writing `junit.xml`, `cucumber.json` and `report.html`.
//!
//! Steps that need a capability the SUT lacks are registered only when it has it, so a
//! scenario that needs one is reported as skipped (with the reason printed), never passed;
//! the same holds, against any SUT other than the bundled reference middleware, for
//! andon's self-tests (a step switching on a reference-middleware defect). [`console`]
//! prints the run and words a failed step as a failed expectation, an inconclusive one, or
//! — only for a real one — a panic of andon; [`report`] reads the outcomes back and writes
//! `junit.xml` and `report.html` from them.

pub mod console;
pub mod report;
pub mod steps;
pub mod world;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::gherkin::{Feature, GherkinEnv, Scenario, Step, StepType};
use cucumber::tag::Ext as _;
use cucumber::{WriterExt, writer};
use regex::Regex;

use steps::{Action, library, regexes};
use world::{AndonWorld, TestContext, slug};

pub use crate::engine::runtime::RuntimeKind;

/// What `andon test` was asked to do.
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Feature files or directories (searched for `*.feature`).
    pub features: Vec<PathBuf>,
    /// SUT manifest (`None`: the bundled reference middleware).
    pub sut: Option<PathBuf>,
    /// Tag expression (`@smoke and not @slow`).
    pub tags: Option<String>,
    /// Runtime.
    pub runtime: RuntimeKind,
    /// Scenarios run at once.
    pub concurrency: usize,
    /// Where the reports and run directories go.
    pub report_dir: PathBuf,
    /// Stop at the first failed scenario.
    pub fail_fast: bool,
    /// The program `{andon}` names (default: the running binary).
    pub andon: Option<PathBuf>,
    /// The dialect every plant's ERP speaks, whatever the steps say (`s4hana@2502`: the
    /// whole suite against a vendor release, to gate an upgrade).
    pub erp_dialect: Option<andon_simulators::dialect::Binding>,
    /// The transport every plant's events take (`andon test --transport`), where a
    /// scenario's steps do not say.
    pub transport: Option<crate::sut::Transport>,
}

/// A configuration error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// A feature file that cannot be read or parsed.
    #[error("{file}: {message}")]
    Feature {
        /// The file.
        file: PathBuf,
        /// What is wrong, with the line where the parser says.
        message: String,
    },
    /// Steps no library step matches, or that several match.
    #[error("{}", .0.join("\n"))]
    Steps(Vec<String>),
    /// Anything else the run was set up with.
    #[error("{0}")]
    Config(String),
}

/// One scenario's outcome, read back from `cucumber.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioResult {
    /// Feature file.
    pub uri: String,
    /// Feature name.
    pub feature: String,
    /// Scenario name.
    pub name: String,
    /// Line of the scenario (or of its example row).
    pub line: usize,
    /// `passed`, `failed`, `inconclusive` (a step could not be judged: never a pass) or
    /// `skipped`.
    pub status: String,
    /// The first failing step's message, or why it was skipped.
    pub message: Option<String>,
    /// The scenario's run directory, relative to the report directory.
    pub run_dir: String,
}

/// What `andon test` did.
#[derive(Debug, Clone)]
pub struct TestSummary {
    /// Every scenario run.
    pub scenarios: Vec<ScenarioResult>,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Whether a scenario failed (a failed step or hook, or a panic of andon).
    pub failed: bool,
}

impl TestSummary {
    /// Scenarios with `status`.
    pub fn count(&self, status: &str) -> usize {
        self.scenarios.iter().filter(|s| s.status == status).count()
    }
}

/// Every `*.feature` under the paths, sorted.
pub fn feature_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TestError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "feature") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| TestError::Feature {
                file: p.clone(),
                message: e.to_string(),
            })?;
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(TestError::Feature {
                file: p.clone(),
                message: "no such file or directory".into(),
            });
        }
    }
    if out.is_empty() {
        return Err(TestError::Config(format!(
            "no *.feature files in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(out)
}

/// Parses a feature file and expands its Scenario Outlines.
pub fn parse_feature(file: &Path) -> Result<Feature, TestError> {
    use cucumber::feature::Ext as _;
    let f = Feature::parse_path(file, GherkinEnv::default()).map_err(|e| TestError::Feature {
        file: file.to_path_buf(),
        message: match &e {
            cucumber::gherkin::ParseFileError::Parsing { source, .. } => {
                gherkin_error(&source.to_string())
            }
            other => other.to_string(),
        },
    })?;
    if let Some(message) = outline_without_examples(&f) {
        return Err(TestError::Feature {
            file: file.to_path_buf(),
            message,
        });
    }
    f.expand_examples().map_err(|e| TestError::Feature {
        file: file.to_path_buf(),
        message: e.to_string(),
    })
}

/// A Scenario Outline with no Examples row would run once with its `<placeholders>` as
/// written, and could pass without testing anything: refused.
fn outline_without_examples(f: &Feature) -> Option<String> {
    let all = f
        .scenarios
        .iter()
        .chain(f.rules.iter().flat_map(|r| &r.scenarios));
    for sc in all {
        let outline = sc.keyword.contains("Outline") || sc.keyword.contains("Template");
        let rows: usize = sc
            .examples
            .iter()
            .map(|e| {
                e.table
                    .as_ref()
                    .map_or(0, |t| t.rows.len().saturating_sub(1))
            })
            .sum();
        if outline && rows == 0 {
            return Some(format!(
                "line {}, column {}: the {} {:?} has no Examples rows: add an Examples table \
                 with a header and at least one row, or make it a Scenario",
                sc.position.line,
                sc.position.col,
                sc.keyword.trim(),
                sc.name
            ));
        }
    }
    None
}

/// The parser's `Error at 4:20: {"unknown keyword"}` in plain words.
fn gherkin_error(text: &str) -> String {
    let re = Regex::new(r"^Error at (\d+):(\d+): \{(.*)\}$").expect("pattern");
    match re.captures(text.trim()) {
        Some(c) => {
            let expected: Vec<String> = c[3]
                .split(", ")
                .map(|e| e.trim_matches('"').to_string())
                .filter(|e| !e.is_empty())
                .collect();
            let what = if expected.iter().all(|e| e == "unknown keyword") {
                "the line starts with no Gherkin keyword".to_string()
            } else {
                format!("expected {}", expected.join(" or "))
            };
            format!(
                "line {}, column {}: not valid Gherkin: {what} (lines start with Feature, Rule, Background, Scenario, Scenario Outline, Examples, Given, When, Then, And, But, a | table | row, a \"\"\" doc string, @tags or # comments)",
                &c[1], &c[2]
            )
        }
        None => format!("not valid Gherkin: {text}"),
    }
}

/// Every scenario of a feature (those inside rules too), with the background steps that
/// run before it.
fn scenarios(f: &Feature) -> Vec<(&Scenario, Vec<&Step>)> {
    let bg: Vec<&Step> = f.background.iter().flat_map(|b| &b.steps).collect();
    let mut out: Vec<(&Scenario, Vec<&Step>)> =
        f.scenarios.iter().map(|s| (s, bg.clone())).collect();
    for r in &f.rules {
        let mut rbg = bg.clone();
        rbg.extend(r.background.iter().flat_map(|b| &b.steps));
        out.extend(r.scenarios.iter().map(|s| (s, rbg.clone())));
    }
    out
}

/// The tag that marks andon's self-tests: skipped against another SUT than the bundled
/// reference middleware.
pub const SELF_TEST_TAG: &str = "self-test";

/// Matches every step against the library: the undefined and ambiguous ones, as messages.
pub fn check_steps(features: &[(PathBuf, Feature)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (file, f) in features {
        for (sc, bg) in scenarios(f) {
            for st in bg.into_iter().chain(&sc.steps) {
                let at = (file.clone(), st.position.line, st.value.clone());
                if !seen.insert(at) {
                    continue;
                }
                let found = steps::matching(&st.value, st.ty);
                let place = format!("{}:{}", file.display(), st.position.line);
                match found.len() {
                    1 => {}
                    0 => {
                        let close = steps::closest(&st.value, 3)
                            .iter()
                            .map(|d| format!("      {} {}", d.keyword(), d.text))
                            .collect::<Vec<_>>()
                            .join("\n");
                        let other_kind = [StepType::Given, StepType::When, StepType::Then]
                            .into_iter()
                            .filter(|t| *t != st.ty)
                            .find(|t| !steps::matching(&st.value, *t).is_empty());
                        let hint = match other_kind {
                            Some(t) => format!(" (it is a {t:?} step, not a {:?} step)", st.ty),
                            None => String::new(),
                        };
                        problems.push(format!(
                            "{place}: undefined step: {} {}{hint}\n    closest steps (`andon steps` lists them all):\n{close}",
                            st.keyword.trim(),
                            st.value
                        ));
                    }
                    _ => problems.push(format!(
                        "{place}: ambiguous step: {} {} matches {}",
                        st.keyword.trim(),
                        st.value,
                        found
                            .iter()
                            .map(|i| format!("\"{}\"", library()[*i].text))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    )),
                }
            }
        }
    }
    problems
}

/// The tags of a scenario with those it inherits.
fn tags_of<'a>(
    f: &'a Feature,
    rule: Option<&'a cucumber::gherkin::Rule>,
    s: &'a Scenario,
) -> Vec<&'a String> {
    f.tags
        .iter()
        .chain(rule.iter().flat_map(|r| &r.tags))
        .chain(&s.tags)
        .collect()
}

/// Keeps the scenarios the tag expression selects (and features that keep any).
fn select(
    features: Vec<(PathBuf, Feature)>,
    tags: Option<&TagOperation>,
) -> Vec<(PathBuf, Feature)> {
    let Some(op) = tags else { return features };
    features
        .into_iter()
        .filter_map(|(p, mut f)| {
            let keep = |f: &Feature, r: Option<&cucumber::gherkin::Rule>, s: &Scenario| {
                op.eval(tags_of(f, r, s))
            };
            let scs = std::mem::take(&mut f.scenarios);
            f.scenarios = scs.into_iter().filter(|s| keep(&f, None, s)).collect();
            let mut rules = std::mem::take(&mut f.rules);
            for r in &mut rules {
                let scs = std::mem::take(&mut r.scenarios);
                r.scenarios = scs.into_iter().filter(|s| keep(&f, Some(r), s)).collect();
            }
            rules.retain(|r| !r.scenarios.is_empty());
            f.rules = rules;
            (!f.scenarios.is_empty() || !f.rules.is_empty()).then_some((p, f))
        })
        .collect()
}

/// The run-directory name of a scenario: feature file, line, name.
pub fn scenario_slug(feature_path: Option<&Path>, line: usize, name: &str) -> String {
    let stem = feature_path
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "feature".into());
    format!("{}-{line}-{}", slug(&stem), slug(name))
}

/// Hands cucumber the features already parsed and checked.
struct Prepared;

impl cucumber::Parser<Vec<Feature>> for Prepared {
    type Cli = cucumber::cli::Empty;
    type Output = futures::stream::Iter<std::vec::IntoIter<cucumber::parser::Result<Feature>>>;

    fn parse(self, input: Vec<Feature>, _: Self::Cli) -> Self::Output {
        futures::stream::iter(input.into_iter().map(Ok).collect::<Vec<_>>())
    }
}

/// Runs the features.
pub async fn run(opts: &TestOptions) -> Result<TestSummary, TestError> {
    opts.runtime
        .check_ready(opts.sut.is_none())
        .await
        .map_err(|e| {
            let name = clap::ValueEnum::to_possible_value(&opts.runtime)
                .map(|v| v.get_name().to_string())
                .unwrap_or_default();
            TestError::Config(format!("--runtime {name}: {e}"))
        })?;
    let tags = opts
        .tags
        .as_deref()
        .map(|t| TagOperation::from_str(t).map_err(|e| TestError::Config(format!("--tags {t:?}: not a tag expression ({e}); write it like \"@smoke and not @slow\""))))
        .transpose()?;
    let files = feature_files(&opts.features)?;
    let mut features = Vec::new();
    for f in &files {
        features.push((f.clone(), parse_feature(f)?));
    }
    let problems = check_steps(&features);
    if !problems.is_empty() {
        return Err(TestError::Steps(problems));
    }
    let capabilities = sut_capabilities(opts)?;
    let selected = select(features, tags.as_ref());
    std::fs::create_dir_all(&opts.report_dir).map_err(|e| {
        TestError::Config(format!("cannot create {}: {e}", opts.report_dir.display()))
    })?;
    let report_dir = std::fs::canonicalize(&opts.report_dir).unwrap_or(opts.report_dir.clone());
    let skipped = skipped_scenarios(&selected, &capabilities, opts.sut.is_none());
    let ctx = Arc::new(TestContext {
        sut: opts
            .sut
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or(p.clone())),
        capabilities: capabilities.clone(),
        report_dir: report_dir.clone(),
        andon: opts.andon.clone(),
        runtime: opts.runtime,
        erp_dialect: opts.erp_dialect.clone(),
        transport: opts.transport,
    });
    let json_path = report_dir.join("cucumber.json");
    run_cucumber(opts, ctx, &capabilities, selected, &json_path).await?;
    for (name, why) in &skipped {
        println!("skipped: {name} — {why}");
    }
    write_reports(opts, &report_dir, json_path, &skipped)
}

/// The capabilities the SUT's manifest declares (the bundled one's without `--sut`); a
/// manifest that cannot be read, or a program that is not there, is a configuration error.
fn sut_capabilities(opts: &TestOptions) -> Result<Vec<String>, TestError> {
    let manifest = match &opts.sut {
        Some(m) => {
            let m =
                crate::sut::SutManifest::load(m).map_err(|e| TestError::Config(e.to_string()))?;
            if !opts.runtime.hosts_sut(&m) {
                m.check_program()
                    .map_err(|e| TestError::Config(e.to_string()))?;
            }
            m
        }
        None => crate::sut::SutManifest::parse(crate::engine::run::REFERENCE_MANIFEST, "sut.toml")
            .map_err(|e| TestError::Config(format!("internal: the bundled manifest: {e}")))?,
    };
    let mut names = manifest.capabilities.names();
    // A broker subscription is exercised only where the broker can run.
    if crate::broker::find().is_err() {
        names.retain(|n| n != "mqtt");
    }
    // The SUT in a container of the run (a partition between it and the broker).
    if opts.runtime.hosts_sut(&manifest) {
        names.push("containers".into());
    }
    Ok(names)
}

/// Runs the selected scenarios through cucumber with the step library (steps of a
/// capability the SUT lacks, and self-tests against another SUT, left undefined so their
/// scenarios are skipped), printing to the console and writing `cucumber.json`.
async fn run_cucumber(
    opts: &TestOptions,
    ctx: Arc<TestContext>,
    capabilities: &[String],
    selected: Vec<(PathBuf, Feature)>,
    json_path: &Path,
) -> Result<(), TestError> {
    let open = |p: &Path| {
        std::fs::File::create(p)
            .map_err(|e| TestError::Config(format!("cannot write {}: {e}", p.display())))
    };
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let out = console::Console::new(std::io::stdout(), color)
        .tee::<AndonWorld, _>(writer::Json::for_tee(open(json_path)?))
        .normalized();
    let mut runner =
        cucumber::runner::Basic::default().max_concurrent_scenarios(opts.concurrency.max(1));
    if opts.fail_fast {
        runner = runner.fail_fast();
    }
    for (d, re) in library().iter().zip(regexes()) {
        let re: Regex = re.clone();
        match d.action {
            Action::Capability(c) if !capabilities.iter().any(|x| x == c) => {}
            Action::Capability(_) => runner = runner.given(re, steps::dispatch),
            Action::SelfTest(_) if opts.sut.is_some() => {}
            Action::Setup(_) | Action::Run(_) | Action::SelfTest(_) => {
                runner = runner
                    .given(re.clone(), steps::dispatch)
                    .when(re, steps::dispatch);
            }
            Action::Check(_) => runner = runner.then(re, steps::dispatch),
        }
    }
    let runner = runner.before(move |feature, _rule, scenario, w: &mut AndonWorld| {
        let ctx = ctx.clone();
        Box::pin(async move {
            w.ctx = Some(ctx);
            w.feature_file = feature.path.clone();
            w.title = format!("{}: {}", feature.name, scenario.name);
            w.slug = scenario_slug(
                feature.path.as_deref(),
                scenario.position.line,
                &scenario.name,
            );
        })
    });
    let cuke = cucumber::Cucumber::<AndonWorld, Prepared, Vec<Feature>, _, _, cucumber::cli::Empty>::custom(Prepared, runner, out)
        .with_cli(cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::default());
    let writer = cuke
        .run(selected.into_iter().map(|(_, f)| f).collect())
        .await;
    drop(writer);
    Ok(())
}

/// Reads the outcomes back from `cucumber.json` (its failures reworded in andon's words)
/// and writes `junit.xml` and `report.html` beside it.
fn write_reports(
    opts: &TestOptions,
    report_dir: &Path,
    json_path: PathBuf,
    skipped: &[(String, String)],
) -> Result<TestSummary, TestError> {
    // cucumber words every failed step as a panic: say it in andon's words, then read the
    // outcomes back and write the JUnit report from them.
    report::reword_cucumber_json(&json_path)?;
    let scenarios = report::read_cucumber_json(&json_path, report_dir, skipped)?;
    let write = |p: &Path, text: String| {
        std::fs::write(p, text)
            .map_err(|e| TestError::Config(format!("cannot write {}: {e}", p.display())))
    };
    let junit_path = report_dir.join("junit.xml");
    write(&junit_path, report::junit_xml(&scenarios))?;
    let html = report_dir.join("report.html");
    write(&html, report::index_html(&scenarios, opts))?;
    let failed = scenarios.iter().any(|s| s.status == "failed");
    Ok(TestSummary {
        scenarios,
        files: vec![junit_path, json_path, html],
        failed,
    })
}

/// Scenarios that will be skipped, with why: those that need a capability the SUT does not
/// declare, and — against another SUT than the bundled reference middleware — andon's
/// self-tests (a step that switches on a reference-middleware defect; the bundled ones are
/// also tagged `@self-test`). (`Feature: Scenario`, why.)
fn skipped_scenarios(
    features: &[(PathBuf, Feature)],
    caps: &[String],
    reference: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (_, f) in features {
        for (sc, bg) in scenarios(f) {
            let mut missing: Vec<&str> = Vec::new();
            let mut self_test = false;
            for st in bg.into_iter().chain(&sc.steps) {
                let Some(&i) = steps::matching(&st.value, st.ty).first() else {
                    continue;
                };
                match library()[i].action {
                    Action::Capability(c) if !caps.iter().any(|x| x == c) => missing.push(c),
                    Action::SelfTest(_) if !reference => self_test = true,
                    _ => {}
                }
            }
            let why = if self_test {
                Some(
                    "a self-test of andon (it proves a check catches a defect of the bundled reference middleware); it says nothing about this SUT"
                        .to_string(),
                )
            } else if missing.contains(&"mqtt") && crate::broker::find().is_err() {
                Some(
                    "its plants publish to an MQTT broker, and Mosquitto is not installed here (ci/install-mosquitto.sh, or apt-get install mosquitto)"
                        .to_string(),
                )
            } else if missing.contains(&"containers") {
                Some(
                    "it needs the middleware in a container of the run: --runtime containers, and an image in its manifest"
                        .to_string(),
                )
            } else if !missing.is_empty() {
                Some(format!(
                    "the SUT does not declare the capability {} in its manifest",
                    missing.join(", ")
                ))
            } else {
                None
            };
            if let Some(why) = why {
                out.push((format!("{}: {}", f.name, sc.name), why));
            }
        }
    }
    out
}
