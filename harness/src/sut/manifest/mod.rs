//! `sut.toml`: how to start the middleware under test, where each simulator delivers its
//! events, and which optional capabilities it has (docs/manifest.md).
//!
//! ```toml
//! name = "acme-bridge"
//!
//! [start]                      # omit when the SUT is already running
//! command = ["./acme-bridge", "--port", "{sut.port}"]
//! env = { ERP_URL = "{erp.url}", DATA_DIR = "{run.dir}/sut" }
//! ready = "{sut.url}/health"
//! ready_timeout = "30s"        # andon's addition; default 30 s
//! stop_grace = "10s"           # andon's addition: SIGTERM → SIGKILL; default 10 s
//!
//! [ingress]
//! erp = "{sut.url}/events/erp"
//! mes = { webhook = "{sut.url}/events/mes", mqtt = "andon/+/mes/#" }  # webhooks or a broker
//! qms = "{sut.url}/events/qms"
//! wms = "{sut.url}/events/wms"
//!
//! [capabilities]
//! dead_letters = "{sut.url}/dead-letters"
//! backlog = "{sut.url}/stats"
//! dialects = ["s4hana"]        # vendor APIs it speaks besides andon's
//! ```
//!
//! Placeholders: `{erp.url}`, `{mes.url}`, `{qms.url}`, `{wms.url}` (simulator base URLs),
//! `{sut.port}` and `{sut.url}` (`http://127.0.0.1:{sut.port}`, only with `[start]`),
//! `{run.dir}` (the run directory), `{andon}` (the running andon binary) and `{broker}`
//! (the run's MQTT broker, `mqtt://host:port`; empty when no plant publishes to one) and
//! `{sut.instance}` (empty for the SUT's first instance, `-2`, `-3`, … for the others, when
//! a scenario runs several). `{{` and `}}`
//! are literal braces. A relative program path containing `/` (`./acme-bridge`) is taken
//! relative to the manifest's folder; a bare name (`andon`) is looked up on `PATH`.
//!
//! Unknown keys, unknown placeholders and missing parts are refused with
//! `FILE:LINE:COLUMN: what was expected`.

mod ingress;
mod resolved;
mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::faults::Dur;
use serde::Deserialize;
use toml::Spanned;

pub use ingress::{DEFAULT_TOPIC, IngressSpec, MqttIngress, Transport};
pub use resolved::{Ingress, IngressError, ResolvedStart, ResolvedSut};
pub use template::{PLACEHOLDERS, Placeholders, Template};
use template::{scan, unknown_placeholder};

/// A bad manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: cannot read the SUT manifest: {source}")]
    Io {
        /// The file.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Syntax, type or content problem.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// What was expected.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Spanned<String>,
    #[serde(default)]
    start: Option<Spanned<RawStart>>,
    ingress: Spanned<RawIngress>,
    #[serde(default)]
    capabilities: RawCapabilities,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    #[serde(default)]
    command: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    ready: Option<Spanned<String>>,
    #[serde(default)]
    image: Option<Spanned<String>>,
    #[serde(default)]
    args: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    ready_timeout: Option<Spanned<Dur>>,
    #[serde(default)]
    stop_grace: Option<Spanned<Dur>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngress {
    erp: ingress::RawIngressEntry,
    mes: ingress::RawIngressEntry,
    qms: ingress::RawIngressEntry,
    wms: ingress::RawIngressEntry,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    #[serde(default)]
    dead_letters: Option<Spanned<String>>,
    #[serde(default)]
    backlog: Option<Spanned<String>>,
    #[serde(default)]
    dialects: Vec<Spanned<String>>,
}

/// How andon starts the SUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSpec {
    /// Program and arguments (empty when `image` is given).
    pub command: Vec<Template>,
    /// Environment added to andon's own.
    pub env: BTreeMap<String, Template>,
    /// URL that answers 2xx once the SUT is ready.
    pub ready: Template,
    /// Container image (containers runtime); with `command` too, the in-process runtime
    /// runs the command and the containers runtime the image.
    pub image: Option<Template>,
    /// Arguments of the container (its `CMD`; default: the image's own).
    pub args: Vec<Template>,
    /// Longest wait for `ready` (default 30 s).
    pub ready_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping (default 10 s).
    pub stop_grace: Duration,
}

/// Optional extensions of the SUT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `GET` this for the SUT's dead letters.
    pub dead_letters: Option<Template>,
    /// `GET` this for the work the SUT still owes: a JSON object whose `backlog` field is
    /// a number (calls not yet delivered, events waiting). Settling then also waits for 0.
    pub backlog: Option<Template>,
    /// The vendor dialects the SUT speaks besides andon's API (`dialects = ["s4hana"]`):
    /// features whose plants speak another are skipped for it, not failed.
    pub dialects: Vec<andon_simulators::dialect::Dialect>,
    /// Whether some `[ingress]` entry declares a broker subscription (`mqtt`).
    pub mqtt: bool,
}

impl Capabilities {
    /// The names of the capabilities declared (`dead_letters`, `backlog`, and each vendor
    /// dialect spoken: `s4hana`).
    pub fn names(&self) -> Vec<String> {
        [
            ("dead_letters", self.dead_letters.is_some()),
            ("backlog", self.backlog.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n.to_string())
        .chain(self.dialects.iter().map(|d| d.name().to_string()))
        .chain(self.mqtt.then(|| "mqtt".to_string()))
        .collect()
    }
}

/// The vendor dialects a manifest declares, each a dialect andon simulates (not `andon`,
/// which every SUT speaks).
fn dialects(
    raw: Vec<Spanned<String>>,
    err: &impl Fn(usize, String) -> ManifestError,
) -> Result<Vec<andon_simulators::dialect::Dialect>, ManifestError> {
    raw.into_iter()
        .map(|d| {
            let at = d.span().start;
            match d.get_ref().parse::<andon_simulators::dialect::Binding>() {
                Ok(b) if b.dialect.per_plant() && !d.get_ref().contains('@') => Ok(b.dialect),
                _ => Err(err(
                    at,
                    format!(
                        "unknown dialect {:?} in capabilities.dialects, expected s4hana or business-central",
                        d.get_ref()
                    ),
                )),
            }
        })
        .collect()
}

/// A parsed `sut.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SutManifest {
    /// Name in reports.
    pub name: String,
    /// How to start it; `None` when it is already running (restart, kill and pause are then
    /// not applicable).
    pub start: Option<StartSpec>,
    /// How each simulator's events reach the SUT: a webhook URL, a broker subscription,
    /// or both.
    pub ingress: BTreeMap<System, IngressSpec>,
    /// Optional extensions.
    pub capabilities: Capabilities,
    /// The manifest as written (the run directory records it).
    pub text: String,
    file: String,
    base_dir: Option<PathBuf>,
}

/// Converts a byte offset of `text` to a 1-based line and column (in characters).
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

impl SutManifest {
    /// Reads and checks a manifest; relative program paths are then taken relative to its
    /// folder.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            file: file.clone(),
            source,
        })?;
        let mut m = Self::parse(&text, &file)?;
        m.base_dir = Some(path.parent().unwrap_or(Path::new(".")).to_path_buf());
        Ok(m)
    }

    /// Parses and checks manifest text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, ManifestError> {
        let err = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ManifestError::Invalid {
                file: file.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err(offset, e.message().trim().to_string())
        })?;

        if raw.name.get_ref().trim().is_empty() {
            return Err(err(raw.name.span().start, "name must not be empty".into()));
        }
        let start = raw.start.map(|s| start_spec(s, &err)).transpose()?;
        let ingress = raw.ingress.into_inner();
        let ingress: BTreeMap<System, IngressSpec> = [
            (System::Erp, ingress.erp),
            (System::Mes, ingress.mes),
            (System::Qms, ingress.qms),
            (System::Wms, ingress.wms),
        ]
        .into_iter()
        .map(|(s, raw)| Ok((s, ingress::entry(s, raw, &err)?)))
        .collect::<Result<_, ManifestError>>()?;
        let mqtt = ingress.values().any(|i: &IngressSpec| i.mqtt.is_some());
        let manifest = SutManifest {
            name: raw.name.into_inner(),
            start,
            ingress,
            capabilities: Capabilities {
                dead_letters: raw.capabilities.dead_letters.map(Template::from),
                backlog: raw.capabilities.backlog.map(Template::from),
                dialects: dialects(raw.capabilities.dialects, &err)?,
                mqtt,
            },
            text: text.to_string(),
            file: file.to_string(),
            base_dir: None,
        };
        manifest.check_templates()?;
        manifest.check_ingress_scheme()?;
        Ok(manifest)
    }

    /// Every template of the manifest, with whether it must be a URL.
    fn templates(&self) -> Vec<(&Template, bool)> {
        let mut out: Vec<(&Template, bool)> = Vec::new();
        if let Some(s) = &self.start {
            out.extend(s.command.iter().map(|t| (t, false)));
            out.extend(s.env.values().map(|t| (t, false)));
            out.push((&s.ready, true));
            out.extend(s.image.iter().map(|t| (t, false)));
            out.extend(s.args.iter().map(|t| (t, false)));
        }
        out.extend(
            self.ingress
                .values()
                .filter_map(|i| i.webhook.as_ref())
                .map(|t| (t, true)),
        );
        out.extend(self.capabilities.dead_letters.iter().map(|t| (t, true)));
        out.extend(self.capabilities.backlog.iter().map(|t| (t, true)));
        out
    }

    /// The position of byte `offset` of a template's text in the file.
    fn error_in(&self, t: &Template, offset: Option<usize>, message: String) -> ManifestError {
        // A basic string without escapes maps byte for byte after its opening quote.
        let raw = self.text.get(t.span.clone()).unwrap_or_default();
        let at = match offset {
            Some(o) if raw.len() == t.text.len() + 2 && raw[1..raw.len() - 1] == t.text => {
                t.span.start + 1 + o
            }
            _ => t.span.start,
        };
        let (line, column) = line_col(&self.text, at);
        ManifestError::Invalid {
            file: self.file.clone(),
            line,
            column,
            message,
        }
    }

    fn check_templates(&self) -> Result<(), ManifestError> {
        for (t, is_url) in self.templates() {
            let names = t
                .placeholders()
                .map_err(|(o, m)| self.error_in(t, Some(o), m))?;
            for (offset, name) in names {
                if !template::is_placeholder(name) {
                    return Err(self.error_in(t, Some(offset), unknown_placeholder(name)));
                }
                if self.start.is_none() && name.starts_with("sut.") {
                    return Err(self.error_in(
                        t,
                        Some(offset),
                        format!(
                            "{{{name}}} is only known when andon starts the SUT: add [start], or write the running SUT's address"
                        ),
                    ));
                }
            }
            if is_url
                && !["http://", "https://", "{"]
                    .iter()
                    .any(|p| t.text.starts_with(p))
            {
                return Err(self.error_in(
                    t,
                    None,
                    format!(
                        "{:?} must be an http:// or https:// URL, such as \"{{sut.url}}/health\"",
                        t.text
                    ),
                ));
            }
        }
        Ok(())
    }

    /// An ingress written as `https://` is refused at load, at its line: andon's emitters
    /// deliver over plain HTTP, and every delivery would fail until the run ended.
    fn check_ingress_scheme(&self) -> Result<(), ManifestError> {
        for t in self.ingress.values().filter_map(|i| i.webhook.as_ref()) {
            if t.text.starts_with("https://") {
                let why = IngressError::Https(t.text.clone());
                return Err(self.error_in(t, None, why.to_string()));
            }
        }
        Ok(())
    }

    /// Whether the SUT consumes any system's events from a broker.
    pub fn consumes_mqtt(&self) -> bool {
        self.ingress.values().any(|i| i.mqtt.is_some())
    }

    /// Whether andon starts (and so can restart, kill and pause) the SUT.
    pub fn is_managed(&self) -> bool {
        self.start.is_some()
    }

    /// Checks that the program of `start.command` exists, before anything starts: a path
    /// (relative to the manifest's folder) must be a file, a bare name must be on `PATH`.
    /// A program with placeholders (`{andon}`), or none, is not checked.
    pub fn check_program(&self) -> Result<(), ManifestError> {
        let Some(program) = self.start.as_ref().and_then(|s| s.command.first()) else {
            return Ok(());
        };
        let name = program.as_str();
        if name.contains('{') {
            return Ok(());
        }
        let path = Path::new(name);
        let found = if name.contains('/') {
            let full = match &self.base_dir {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.to_path_buf(),
            };
            full.is_file()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|dirs| std::env::split_paths(&dirs).any(|d| d.join(name).is_file()))
        };
        if found {
            return Ok(());
        }
        let (line, column) = line_col(&self.text, program.span.start);
        let where_ = if name.contains('/') {
            "no such file (a relative path is taken from the manifest's folder)"
        } else {
            "not found on PATH"
        };
        Err(ManifestError::Invalid {
            file: self.file.clone(),
            line,
            column,
            message: format!("start.command: the program {name:?} does not exist: {where_}"),
        })
    }

    /// The file the manifest came from, as given.
    pub fn file(&self) -> &str {
        &self.file
    }
}

/// The `[start]` table read: a command or an image, `ready`, the durations; `err` places a
/// problem at a byte offset of the file.
fn start_spec(
    s: Spanned<RawStart>,
    err: &dyn Fn(usize, String) -> ManifestError,
) -> Result<StartSpec, ManifestError> {
    let table = s.span();
    let s = s.into_inner();
    if let (Some(args), None) = (&s.args, &s.image) {
        return Err(err(
            args.span().start,
            "`args` are the container's arguments: they need `image`".into(),
        ));
    }
    let command: Vec<Template> = match (&s.command, &s.image) {
        (None, None) => {
            return Err(err(
                    table.start,
                    "[start] needs `command`, such as command = [\"./my-bridge\", \"--port\", \"{sut.port}\"], or `image`".into(),
                ));
        }
        (Some(c), _) => {
            if c.get_ref().is_empty() || c.get_ref()[0].get_ref().trim().is_empty() {
                return Err(err(
                    c.span().start,
                    "command needs at least the program to run".into(),
                ));
            }
            c.get_ref().iter().cloned().map(Template::from).collect()
        }
        (None, Some(_)) => Vec::new(),
    };
    let Some(ready) = s.ready else {
        return Err(err(
                table.start,
                "[start] needs `ready`: a URL that answers 2xx once the SUT is ready, such as ready = \"{sut.url}/health\"".into(),
            ));
    };
    let dur = |d: Option<Spanned<Dur>>, default: u64, key: &str| match d {
        Some(d) if d.get_ref().0.is_zero() => {
            Err(err(d.span().start, format!("{key} must be longer than 0s")))
        }
        Some(d) => Ok(d.into_inner().0),
        None => Ok(Duration::from_secs(default)),
    };
    Ok(StartSpec {
        command,
        env: s
            .env
            .into_iter()
            .map(|(k, v)| (k, Template::from(v)))
            .collect(),
        ready: Template::from(ready),
        image: s.image.map(Template::from),
        args: s
            .args
            .map(|a| a.into_inner().into_iter().map(Template::from).collect())
            .unwrap_or_default(),
        ready_timeout: dur(s.ready_timeout, 30, "ready_timeout")?,
        stop_grace: dur(s.stop_grace, 10, "stop_grace")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_escape_and_placeholders_are_found_with_offsets() {
        let t = Template {
            text: "a{{b}}{sut.url}/x".into(),
            span: 0..0,
        };
        assert_eq!(t.placeholders().unwrap(), vec![(6, "sut.url")]);
        let filled = scan(&t.text, |_, n| Ok(format!("<{n}>"))).unwrap();
        assert_eq!(filled, "a{b}<sut.url>/x");
        assert!(scan("a{b", |_, _| Ok(String::new())).is_err());
        assert!(scan("a}b", |_, _| Ok(String::new())).is_err());
    }

    #[test]
    fn offsets_become_lines_and_columns() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
