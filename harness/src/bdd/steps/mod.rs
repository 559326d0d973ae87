//! The step library: every step is one row of [`library`] — its topic, its sentence, the
//! regular expression that matches it, what it does, an example — so the runner, the
//! undefined-step check and `andon steps` read the same table and cannot drift apart.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use cucumber::gherkin::Table;
use regex::Regex;

use super::console::config;
use super::world::{AndonWorld, StepResult, explain, inconclusive, require};

/// What a step is about; `andon steps` groups by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    /// Plants, master data, seed, time.
    Plants,
    /// Switches of the simulated systems.
    Systems,
    /// The middleware under test.
    Middleware,
    /// Load phases.
    Load,
    /// The fault timeline.
    Faults,
    /// Running and settling.
    Running,
    /// Exactly-once effects.
    ExactlyOnce,
    /// Stock and lot status reconciliation.
    Reconciliation,
    /// Propagation latency.
    Latency,
    /// The integration contract.
    Contract,
    /// Held lots and dead letters.
    Safety,
    /// Ordering of lot status changes.
    Ordering,
    /// Any checker's verdict.
    Verdicts,
}

impl Topic {
    /// Every topic, in the order `andon steps` prints them.
    pub const ALL: [Topic; 13] = [
        Topic::Plants,
        Topic::Systems,
        Topic::Middleware,
        Topic::Load,
        Topic::Faults,
        Topic::Running,
        Topic::ExactlyOnce,
        Topic::Reconciliation,
        Topic::Latency,
        Topic::Contract,
        Topic::Safety,
        Topic::Ordering,
        Topic::Verdicts,
    ];

    /// Heading.
    pub fn title(self) -> &'static str {
        match self {
            Topic::Plants => "Plants and master data",
            Topic::Systems => "Simulated systems",
            Topic::Middleware => "The middleware under test",
            Topic::Load => "Load",
            Topic::Faults => "Faults",
            Topic::Running => "Running",
            Topic::ExactlyOnce => "Exactly-once",
            Topic::Reconciliation => "Reconciliation",
            Topic::Latency => "Latency (SLA)",
            Topic::Contract => "Contract",
            Topic::Safety => "Safety and dead letters",
            Topic::Ordering => "Ordering",
            Topic::Verdicts => "Verdicts",
        }
    }
}

/// A step's handler.
#[derive(Clone, Copy)]
pub enum Action {
    /// Builds the scenario (`Given`, also usable as `When`).
    Setup(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
    /// Sets what it names, then runs the scenario (`When`, also usable as `Given`).
    Run(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
    /// Judges the run, running it first if no step has (`Then`).
    Check(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
    /// Holds only when the SUT declares this capability (`Given`); registered only then,
    /// so without it the step and its scenario are skipped, never passed.
    Capability(&'static str),
    /// Builds the scenario like [`Action::Setup`], for andon's self-tests only: it switches
    /// on a defect of the bundled reference middleware, so it is registered only when the
    /// run's SUT is that middleware; against another SUT its scenario is skipped.
    SelfTest(fn(&mut AndonWorld, &Args<'_>) -> StepResult),
}

/// One step of the library.
pub struct StepDef {
    /// Topic.
    pub topic: Topic,
    /// The sentence, with `{placeholders}`.
    pub text: &'static str,
    /// Regular expression matching the whole step text.
    pub pattern: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// An example, as written in a feature (keyword included; a table follows on the next
    /// lines when the step takes one).
    pub example: &'static str,
    /// The handler.
    pub action: Action,
}

impl StepDef {
    /// The keyword it is listed under.
    pub fn keyword(&self) -> &'static str {
        match self.action {
            Action::Setup(_) | Action::Capability(_) | Action::SelfTest(_) => "Given",
            Action::Run(_) => "When",
            Action::Check(_) => "Then",
        }
    }

    /// The sentence as documented (`text`), read as a pattern: `{…}` is any text, `[…]`
    /// is optional, `a|b` are alternative words and `(a b|c d)` alternative phrases, ` / `
    /// separates alternative sentences. Every step a bundled feature uses matches the
    /// documented sentence of its step, so `andon steps` and `docs/steps.md` show every
    /// phrasing the features use.
    pub fn documented(&self) -> Regex {
        let alts: Vec<String> = self.text.split(" / ").map(documented_sentence).collect();
        Regex::new(&format!("(?i)^(?:{})$", alts.join("|")))
            .unwrap_or_else(|e| panic!("documented sentence {:?}: {e}", self.text))
    }

    /// Whether a step of this Gherkin type may use it.
    pub fn accepts(&self, ty: cucumber::gherkin::StepType) -> bool {
        use cucumber::gherkin::StepType as T;
        match self.action {
            Action::Setup(_) | Action::Run(_) | Action::SelfTest(_) => {
                matches!(ty, T::Given | T::When)
            }
            Action::Capability(_) => ty == T::Given,
            Action::Check(_) => ty == T::Then,
        }
    }
}

/// One documented sentence as a regular expression (see [`StepDef::documented`]).
fn documented_sentence(s: &str) -> String {
    // Placeholders first: their own `|` are not alternatives.
    let mut flat: Vec<char> = Vec::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    flat.push('\u{0}');
                }
            }
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            c => flat.push(c),
        }
    }
    pattern_of(&flat)
}

/// The index of the bracket closing the one at `open` in a step's sentence.
fn closing(chars: &[char], open: usize) -> Option<usize> {
    let (o, c) = (chars[open], if chars[open] == '(' { ')' } else { ']' });
    let mut depth = 0;
    for (i, x) in chars.iter().enumerate().skip(open) {
        if *x == o {
            depth += 1;
        } else if *x == c {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

fn pattern_of(chars: &[char]) -> String {
    fn lit(w: &str) -> String {
        regex::escape(w).replace('\u{0}', ".+?")
    }
    fn word(w: &str) -> String {
        if w.contains('|') {
            format!(
                "(?:{})",
                w.split('|').map(lit).collect::<Vec<_>>().join("|")
            )
        } else {
            lit(w)
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            ' ' if chars.get(i + 1) == Some(&'[') => {
                let end = closing(chars, i + 1).unwrap_or(chars.len());
                out.push_str(&format!(
                    "(?: {})?",
                    pattern_of(&chars[i + 2..end.min(chars.len())])
                ));
                i = end + 1;
            }
            '[' => {
                let end = closing(chars, i).unwrap_or(chars.len());
                out.push_str(&format!(
                    "(?:{})?",
                    pattern_of(&chars[i + 1..end.min(chars.len())])
                ));
                i = end + 1;
            }
            '(' => {
                let end = closing(chars, i).unwrap_or(chars.len());
                let inner = &chars[i + 1..end.min(chars.len())];
                if inner.contains(&'|') {
                    let parts: Vec<String> = inner.split(|c| *c == '|').map(pattern_of).collect();
                    out.push_str(&format!("(?:{})", parts.join("|")));
                } else {
                    out.push_str(&format!("\\({}\\)", pattern_of(inner)));
                }
                i = end + 1;
            }
            ' ' => {
                out.push(' ');
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '[' | ']' | '(' | ')') {
                    i += 1;
                }
                out.push_str(&word(&chars[start..i].iter().collect::<String>()));
                if i == start {
                    // A stray closing bracket: taken literally.
                    out.push_str(&regex::escape(&chars[i].to_string()));
                    i += 1;
                }
            }
        }
    }
    out
}

/// The matched step: its captures by name and its data table.
pub struct Args<'a> {
    caps: BTreeMap<&'a str, &'a str>,
    /// The step's data table.
    pub table: Option<&'a Table>,
}

impl<'a> Args<'a> {
    /// Reads the captures of `re` on `text`.
    pub fn new(re: &'a Regex, text: &'a str, table: Option<&'a Table>) -> Option<Self> {
        let c = re.captures(text)?;
        let caps = re
            .capture_names()
            .flatten()
            .filter_map(|n| c.name(n).map(|m| (n, m.as_str())))
            .collect();
        Some(Self { caps, table })
    }

    /// A named capture, when it matched.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.caps.get(name).copied()
    }

    /// A named capture the pattern always has.
    pub fn req(&self, name: &str) -> Result<&'a str, String> {
        self.get(name)
            .ok_or_else(|| format!("internal: the step has no {name:?}"))
    }

    /// The table as rows keyed by lower-case header.
    pub fn rows(&self) -> Result<Vec<BTreeMap<String, String>>, String> {
        let t = self
            .table
            .ok_or_else(|| "this step needs a data table under it".to_string())?;
        let mut rows = t.rows.iter();
        let head: Vec<String> = rows
            .next()
            .ok_or_else(|| "the table has no header row".to_string())?
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        Ok(rows
            .map(|r| {
                head.iter()
                    .cloned()
                    .zip(r.iter().map(|c| c.trim().to_string()))
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            .collect())
    }
}

macro_rules! sys {
    () => {
        "(?P<sys>ERP|MES|QMS|WMS)"
    };
}
macro_rules! dur {
    ($name:literal) => {
        concat!(
            "(?P<",
            $name,
            r">\d+(?:\.\d+)?\s*(?:ms|milliseconds?|s|secs?|seconds?|min|minutes?|h|hours?))"
        )
    };
}
macro_rules! window {
    () => {
        concat!("(?:from|at) ", dur!("at"), "(?: for ", dur!("for"), ")?")
    };
}
macro_rules! share {
    () => {
        r"(?: on (?P<share>\d+(?:\.\d+)?) ?% of (?:its |the )?(?:calls|events|postings|requests))?"
    };
}
macro_rules! num {
    ($name:literal) => {
        concat!("(?P<", $name, r">\d+(?:\.\d+)?)")
    };
}

// The handlers and the table use the macros above: declared after them.
mod checks;
mod setup;
mod table;
mod transport;

/// A duration written in a step (`5s`, `500 ms`, `2 minutes`), as milliseconds for the
/// scenario file.
pub fn dur_text(text: &str) -> Result<String, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| config(format!("{text:?} is not a duration such as 5s or 500ms")))?;
    let ms = match unit.trim() {
        "ms" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
        "min" | "minute" | "minutes" => 60_000.0,
        "h" | "hour" | "hours" => 3_600_000.0,
        other => {
            return Err(config(format!(
                "{text:?}: unknown unit {other:?}, expected ms, s, min or h"
            )));
        }
    };
    let ms = (n * ms).round();
    if !(0.0..=MAX_STEP_MS).contains(&ms) {
        return Err(config(format!(
            "{text:?}: a duration in a step is at most {} days",
            MAX_STEP_MS / 86_400_000.0
        )));
    }
    Ok(format!("{}ms", ms as u64))
}

/// The longest duration a step takes: a year.
const MAX_STEP_MS: f64 = 365.0 * 86_400_000.0;

fn system_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| config(format!("{text:?} is not a number")))
}

fn integer(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| {
        config(format!(
            "{text:?} is not a whole number from 0 to {}",
            u64::MAX
        ))
    })
}

// ---------------------------------------------------------------------------------------
// The table.

/// The step library, in `andon steps` order.
pub fn library() -> &'static [StepDef] {
    static LIB: OnceLock<Vec<StepDef>> = OnceLock::new();
    LIB.get_or_init(table::build)
}

/// The compiled patterns, index for index with [`library`].
pub fn regexes() -> &'static [Regex] {
    static RE: OnceLock<Vec<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        library()
            .iter()
            .map(|d| {
                Regex::new(d.pattern)
                    .unwrap_or_else(|e| panic!("step pattern {:?}: {e}", d.pattern))
            })
            .collect()
    })
}

/// Steps a text matches, for a Gherkin step type: indices into [`library`].
pub fn matching(text: &str, ty: cucumber::gherkin::StepType) -> Vec<usize> {
    library()
        .iter()
        .zip(regexes())
        .enumerate()
        .filter(|(_, (d, re))| d.accepts(ty) && re.is_match(text))
        .map(|(i, _)| i)
        .collect()
}

/// The library steps closest to `text` (by the similarity of their example sentences).
pub fn closest(text: &str, n: usize) -> Vec<&'static StepDef> {
    fn words(s: &str) -> Vec<String> {
        s.to_lowercase()
            .split(|c: char| c.is_whitespace() || c == '"')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect()
    }
    let input = words(text);
    let mut scored: Vec<(f64, f64, &StepDef)> = library()
        .iter()
        .map(|d| {
            let ex = d.example.lines().next().unwrap_or("");
            let ex = ex.split_once(' ').map(|x| x.1).unwrap_or(ex);
            let mut vocab = words(ex);
            vocab.extend(words(d.text));
            // How well each word typed is covered by some word of the step (typos count
            // almost fully), then how close the whole sentences are.
            let coverage = input
                .iter()
                .map(|w| {
                    vocab
                        .iter()
                        .map(|v| strsim::normalized_levenshtein(w, v))
                        .fold(0.0, f64::max)
                })
                .sum::<f64>()
                / input.len().max(1) as f64;
            let whole = strsim::normalized_levenshtein(&text.to_lowercase(), &ex.to_lowercase());
            (coverage, whole, d)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    scored.into_iter().take(n).map(|x| x.2).collect()
}

/// Runs the step `ctx` matched: the cucumber entry point of every library step.
pub fn dispatch(
    w: &mut AndonWorld,
    ctx: cucumber::step::Context,
) -> futures::future::LocalBoxFuture<'_, ()> {
    Box::pin(async move {
        let step = ctx.step;
        let found = matching(&step.value, step.ty);
        let Some(&i) = found.first() else {
            panic!("no library step matches {:?}", step.value);
        };
        let def = &library()[i];
        let re = &regexes()[i];
        let Some(args) = Args::new(re, &step.value, step.table.as_ref()) else {
            panic!("internal: {:?} stopped matching", step.value);
        };
        let result = match def.action {
            Action::Setup(f) | Action::SelfTest(f) => f(w, &args),
            Action::Run(f) => match f(w, &args) {
                Ok(()) => w.run().await,
                e => e,
            },
            Action::Check(f) => match w.ensure_ran().await {
                Ok(()) => f(w, &args),
                e => e,
            },
            Action::Capability(_) => Ok(()),
        };
        // A step that does not hold panics (cucumber's only way to fail a step) with its
        // message marked, so that the console and the reports say "failed" or
        // "inconclusive", and keep "panicked" for real panics of andon.
        if let Err(msg) = result {
            if let Some(rest) = msg.strip_prefix(super::console::CONFIG) {
                panic!(
                    "{}{rest} (the step at line {}: {})",
                    super::console::CONFIG,
                    step.position.line,
                    step.value
                );
            }
            if msg.starts_with(super::console::INCONCLUSIVE) {
                panic!("{msg}");
            }
            panic!("{}{msg}", super::console::FAILED);
        }
    })
}

/// The library as text (`andon steps`) or Markdown (`docs/steps.md`).
pub fn render(markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str("# The andon step library\n\n");
        out.push_str("Generated by `andon docs steps`; `cargo test` fails when this file and the code disagree.\n");
        out.push_str("`Given` steps may also be written as `When` (and the run step as `Given`); `And` and `But` take the keyword before them.\n");
        out.push_str("Durations are written `500ms`, `5s`, `2 minutes`; systems are `ERP`, `MES`, `QMS`, `WMS`.\n");
    }
    for topic in Topic::ALL {
        let steps: Vec<&StepDef> = library().iter().filter(|d| d.topic == topic).collect();
        if steps.is_empty() {
            continue;
        }
        if markdown {
            out.push_str(&format!("\n## {}\n", topic.title()));
        } else {
            out.push_str(&format!(
                "\n{}\n{}\n",
                topic.title(),
                "=".repeat(topic.title().len())
            ));
        }
        for d in steps {
            if markdown {
                out.push_str(&format!(
                    "\n### {} {}\n\n{}\n\n```gherkin\n{}\n```\n",
                    d.keyword(),
                    d.text.replace('|', "\\|"),
                    d.doc,
                    d.example
                ));
            } else {
                out.push_str(&format!("\n  {} {}\n    {}\n", d.keyword(), d.text, d.doc));
                for line in d.example.lines() {
                    out.push_str(&format!("    e.g. {line}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
