//! What `andon test` prints while it runs, and the words it uses for a failed step.
//!
//! A step that does not hold is not a crash: [`Console`] prints a failed expectation as
//! what was expected, what happened and the witnesses; an expectation that could not be
//! judged as inconclusive (never a pass); and "panicked" only for a real panic — a bug in
//! andon. Steps tell the three apart by the mark their message starts with
//! ([`FAILED`], [`INCONCLUSIVE`]); [`Outcome::of_text`] reads the same marks back from
//! `cucumber.json`, whose messages cucumber writes in its own words.

use std::borrow::Cow;
use std::io::Write;

use cucumber::event::{self, Cucumber, RetryableScenario, StepError};
use cucumber::{Event, World, Writer, cli, parser};

/// Marks a step message as a failed expectation.
pub const FAILED: &str = "\u{1}andon:failed\u{1}";
/// Marks a step message as an expectation that could not be judged (a checker unknown).
pub const INCONCLUSIVE: &str = "\u{1}andon:inconclusive\u{1}";
/// Marks a step message as a configuration error: the feature, the scenario it builds or
/// the manifest is wrong (`andon test` exits 2), not a verdict on the middleware.
pub const CONFIG: &str = "\u{1}andon:config\u{1}";

/// How a configuration error begins in andon's words.
const CONFIG_WORDS: &str = "configuration error (not a verdict on the middleware): ";

/// How a step ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An expectation did not hold.
    Failed,
    /// An expectation could not be judged.
    Inconclusive,
    /// The feature, the scenario it builds or the manifest is wrong.
    Config,
    /// andon itself panicked.
    Panicked,
    /// No library step matches (only with `fail_on_skipped`).
    Undefined,
    /// Several library steps match.
    Ambiguous,
}

impl Outcome {
    /// A step's message, marked by the step, as (outcome, the message without marks).
    pub fn of_message(text: &str) -> (Outcome, &str) {
        if let Some(rest) = text.strip_prefix(FAILED) {
            (Outcome::Failed, rest)
        } else if let Some(rest) = text.strip_prefix(INCONCLUSIVE) {
            (Outcome::Inconclusive, rest)
        } else if let Some(rest) = text.strip_prefix(CONFIG) {
            (Outcome::Config, rest)
        } else {
            (Outcome::Panicked, text)
        }
    }

    /// A failed step's `error_message` as cucumber's JSON writer words it
    /// (`Matched: …\nStep panicked. Captured output: …`), as (outcome, andon's words).
    pub fn of_text(text: &str) -> (Outcome, String) {
        const PANIC: &str = "Step panicked. Captured output: ";
        let body = text
            .split_once('\n')
            .filter(|(first, _)| first.starts_with("Matched: "))
            .map_or(text, |(_, rest)| rest);
        if let Some(payload) = body.strip_prefix(PANIC) {
            let (o, msg) = Outcome::of_message(payload);
            return (o, o.words(msg));
        }
        // Already in andon's words (a report reworded before).
        if let Some(rest) = body.strip_prefix("inconclusive (never a pass): ") {
            return (Outcome::Inconclusive, Outcome::Inconclusive.words(rest));
        }
        if let Some(rest) = body.strip_prefix(CONFIG_WORDS) {
            return (Outcome::Config, Outcome::Config.words(rest));
        }
        if body.starts_with("andon panicked") {
            return (Outcome::Panicked, body.to_string());
        }
        if body.starts_with("Step match is ambiguous") {
            return (Outcome::Ambiguous, body.to_string());
        }
        if body.starts_with("Step doesn't match") {
            return (Outcome::Undefined, body.to_string());
        }
        (Outcome::Failed, body.to_string())
    }

    /// `failed`, `inconclusive`, `error`, … as `andon test` counts scenarios.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Inconclusive => "inconclusive",
            Outcome::Config => "error",
            _ => "failed",
        }
    }

    /// The message in andon's words.
    pub fn words(self, msg: &str) -> String {
        match self {
            Outcome::Failed => msg.to_string(),
            Outcome::Inconclusive => format!("inconclusive (never a pass): {msg}"),
            Outcome::Config => format!("{CONFIG_WORDS}{msg}"),
            Outcome::Panicked => format!(
                "andon panicked — a bug in andon, not a verdict on the middleware; please report it: {msg}"
            ),
            Outcome::Undefined | Outcome::Ambiguous => msg.to_string(),
        }
    }
}

/// A step error as (outcome, message in andon's words).
pub fn describe(err: &StepError) -> (Outcome, String) {
    match err {
        StepError::NotFound => (
            Outcome::Undefined,
            "no library step matches this step".to_string(),
        ),
        StepError::AmbiguousMatch(e) => (Outcome::Ambiguous, e.to_string()),
        StepError::Panic(info) => {
            let text: Cow<'_, str> = if let Some(s) = info.downcast_ref::<String>() {
                Cow::Borrowed(s.as_str())
            } else if let Some(s) = info.downcast_ref::<&str>() {
                Cow::Borrowed(s)
            } else {
                Cow::Borrowed("(a panic without a message)")
            };
            let (o, msg) = Outcome::of_message(&text);
            (o, o.words(msg))
        }
    }
}

/// Scenarios counted as they finish.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Every step passed.
    pub passed: usize,
    /// A step failed (or andon panicked).
    pub failed: usize,
    /// A step could not be judged.
    pub inconclusive: usize,
    /// A configuration error: the feature, its scenario or the manifest is wrong.
    pub errors: usize,
    /// A step was skipped (a missing capability, a self-test against another SUT).
    pub skipped: usize,
}

/// The terminal writer of `andon test` (give it events in order: `.normalized()`).
pub struct Console<O> {
    out: O,
    color: bool,
    /// Scenarios so far.
    pub counts: Counts,
    scenario: Option<Outcome>,
    skipped: bool,
}

impl<O: Write> Console<O> {
    /// A writer to `out`, in colour when `color`.
    pub fn new(out: O, color: bool) -> Self {
        Self {
            out,
            color,
            counts: Counts::default(),
            scenario: None,
            skipped: false,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn line(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
    }

    fn step(&mut self, indent: &str, step: &cucumber::gherkin::Step, ev: &event::Step<impl World>) {
        let text = format!("{}{}", step.keyword, step.value);
        match ev {
            event::Step::Started => {}
            event::Step::Passed(..) => {
                let l = self.paint("32", &format!("{indent}✔  {text}"));
                self.line(&l);
            }
            event::Step::Skipped => {
                self.skipped = true;
                let l = self.paint("33", &format!("{indent}↷  {text} (skipped)"));
                self.line(&l);
            }
            event::Step::Failed(_, _, _, err) => {
                let (outcome, msg) = describe(err);
                let (mark, color, head) = match outcome {
                    Outcome::Inconclusive => ("?", "33", "Inconclusive"),
                    Outcome::Config => ("✘", "31", "Configuration error"),
                    Outcome::Panicked => ("✘", "31", "andon panicked"),
                    _ => ("✘", "31", "Failed"),
                };
                let l = self.paint(color, &format!("{indent}{mark}  {text}"));
                self.line(&l);
                let body = match outcome {
                    Outcome::Inconclusive => msg
                        .strip_prefix("inconclusive (never a pass): ")
                        .unwrap_or(&msg)
                        .to_string(),
                    Outcome::Config => msg.strip_prefix(CONFIG_WORDS).unwrap_or(&msg).to_string(),
                    _ => msg,
                };
                let mut lines = body.lines();
                if let Some(first) = lines.next() {
                    let l = self.paint(color, &format!("{indent}   {head}: {first}"));
                    self.line(&l);
                }
                for rest in lines {
                    self.line(&format!("{indent}   {rest}"));
                }
                if self.scenario.is_none_or(|o| o == Outcome::Inconclusive) {
                    self.scenario = Some(outcome);
                }
            }
        }
    }

    fn scenario<W: World>(
        &mut self,
        indent: &str,
        sc: &cucumber::gherkin::Scenario,
        ev: &RetryableScenario<W>,
    ) {
        match &ev.event {
            event::Scenario::Started => {
                self.scenario = None;
                self.skipped = false;
                self.line(&format!("{indent}{}: {}", sc.keyword, sc.name));
            }
            event::Scenario::Background(step, e) | event::Scenario::Step(step, e) => {
                self.step(&format!("{indent} "), step, e);
            }
            event::Scenario::Hook(ty, event::Hook::Failed(_, info)) => {
                let (outcome, msg) = describe(&StepError::Panic(info.clone()));
                let l = self.paint("31", &format!("{indent}   ✘  {ty:?} hook: {msg}"));
                self.line(&l);
                self.scenario = Some(outcome);
            }
            event::Scenario::Hook(..) => {}
            event::Scenario::Log(msg) => self.line(&format!("{indent}   {msg}")),
            event::Scenario::Finished => match self.scenario.take() {
                Some(Outcome::Inconclusive) => self.counts.inconclusive += 1,
                Some(Outcome::Config) => self.counts.errors += 1,
                Some(_) => self.counts.failed += 1,
                None if self.skipped => self.counts.skipped += 1,
                None => self.counts.passed += 1,
            },
        }
    }
}

impl<W: World, O: Write> Writer<W> for Console<O> {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, ev: parser::Result<Event<event::Cucumber<W>>>, _: &Self::Cli) {
        let ev = match ev {
            Ok(ev) => ev.value,
            Err(e) => {
                self.line(&format!("error: {e}"));
                return;
            }
        };
        match ev {
            Cucumber::Started | Cucumber::ParsingFinished { .. } | Cucumber::Finished => {}
            Cucumber::Feature(f, fe) => match fe {
                event::Feature::Started => {
                    self.line(&format!("{}: {}", f.keyword, f.name));
                }
                event::Feature::Rule(r, event::Rule::Started) => {
                    self.line(&format!("  {}: {}", r.keyword, r.name));
                }
                event::Feature::Rule(_, event::Rule::Scenario(sc, ev)) => {
                    self.scenario("    ", &sc, &ev);
                }
                event::Feature::Rule(_, event::Rule::Finished) => {}
                event::Feature::Scenario(sc, ev) => self.scenario("  ", &sc, &ev),
                event::Feature::Finished => {}
            },
        }
        let _ = self.out.flush();
    }
}

impl<O> cucumber::writer::Normalized for Console<O> {}

/// A step's words that cannot be what the step means: a configuration error of the
/// feature (`andon test` exits 2), not a verdict on the middleware.
pub fn config(message: String) -> String {
    format!("{}{message}", CONFIG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cucumber_words_become_andon_words() {
        let failed = format!(
            "Matched: features/a.feature:6:5\nStep panicked. Captured output: {FAILED}expected the reconciliation check to pass, but it was FAIL"
        );
        assert_eq!(
            Outcome::of_text(&failed),
            (
                Outcome::Failed,
                "expected the reconciliation check to pass, but it was FAIL".to_string()
            )
        );
        let unk = format!("Step panicked. Captured output: {INCONCLUSIVE}no sample");
        let (o, msg) = Outcome::of_text(&unk);
        assert_eq!(o, Outcome::Inconclusive);
        assert!(msg.starts_with("inconclusive"), "{msg}");
        let bug = "Step panicked. Captured output: index out of bounds";
        let (o, msg) = Outcome::of_text(bug);
        assert_eq!(o, Outcome::Panicked);
        assert!(msg.contains("a bug in andon") && msg.contains("index out of bounds"));
        assert!(!Outcome::of_text(&failed).1.contains("panicked"));
        // Read back after `reword_cucumber_json`: the same outcome.
        for text in [failed.as_str(), unk.as_str(), bug] {
            let (o, words) = Outcome::of_text(text);
            assert_eq!(Outcome::of_text(&words), (o, words.clone()), "{text}");
        }
    }
}
