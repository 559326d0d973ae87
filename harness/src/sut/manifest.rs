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
//! mes = "{sut.url}/events/mes"
//! qms = "{sut.url}/events/qms"
//! wms = "{sut.url}/events/wms"
//!
//! [capabilities]
//! dead_letters = "{sut.url}/dead-letters"
//! backlog = "{sut.url}/stats"
//! ```
//!
//! Placeholders: `{erp.url}`, `{mes.url}`, `{qms.url}`, `{wms.url}` (simulator base URLs),
//! `{sut.port}` and `{sut.url}` (`http://127.0.0.1:{sut.port}`, only with `[start]`),
//! `{run.dir}` (the run directory) and `{andon}` (the running andon binary). `{{` and `}}`
//! are literal braces. A relative program path containing `/` (`./acme-bridge`) is taken
//! relative to the manifest's folder; a bare name (`andon`) is looked up on `PATH`.
//!
//! Unknown keys, unknown placeholders and missing parts are refused with
//! `FILE:LINE:COLUMN: what was expected`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::faults::Dur;
use serde::Deserialize;
use toml::Spanned;

/// Every placeholder name, in the order messages list them.
pub const PLACEHOLDERS: &[&str] = &[
    "erp.url", "mes.url", "qms.url", "wms.url", "sut.port", "sut.url", "run.dir", "andon",
];

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

/// A string of the manifest with `{placeholders}`, remembering where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    span: Range<usize>,
}

impl Template {
    /// The text as written (placeholders unfilled).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn from(s: Spanned<String>) -> Self {
        Self {
            span: s.span(),
            text: s.into_inner(),
        }
    }

    /// The placeholders it uses, with their byte offset in the text.
    fn placeholders(&self) -> Result<Vec<(usize, &str)>, (usize, String)> {
        let mut out = Vec::new();
        scan(&self.text, |offset, name| {
            out.push((offset, name));
            Ok(String::new())
        })?;
        Ok(out)
    }
}

/// Walks `text`, handing each `{name}` to `fill`; returns the filled text.
fn scan<'t>(
    text: &'t str,
    mut fill: impl FnMut(usize, &'t str) -> Result<String, (usize, String)>,
) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = &rest[i..];
        if c.starts_with("{{") || c.starts_with("}}") {
            out.push_str(&c[..1]);
            rest = &c[2..];
            offset += i + 2;
            continue;
        }
        if c.starts_with('}') {
            return Err((
                offset + i,
                "a lone `}`: write `}}` for a literal brace".to_string(),
            ));
        }
        let Some(end) = c.find('}') else {
            return Err((
                offset + i,
                "an unclosed `{`: placeholders read `{name}`; write `{{` for a literal brace"
                    .to_string(),
            ));
        };
        let name = &c[1..end];
        out.push_str(&fill(offset + i, name)?);
        rest = &c[end + 1..];
        offset += i + end + 1;
    }
    out.push_str(rest);
    Ok(out)
}

fn unknown_placeholder(name: &str) -> String {
    let all: Vec<String> = PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
    format!(
        "unknown placeholder {{{name}}}, expected one of {}",
        all.join(", ")
    )
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
    erp: Spanned<String>,
    mes: Spanned<String>,
    qms: Spanned<String>,
    wms: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    #[serde(default)]
    dead_letters: Option<Spanned<String>>,
    #[serde(default)]
    backlog: Option<Spanned<String>>,
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
}

impl Capabilities {
    /// The names of the capabilities declared (`dead_letters`, `backlog`).
    pub fn names(&self) -> Vec<String> {
        [
            ("dead_letters", self.dead_letters.is_some()),
            ("backlog", self.backlog.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n.to_string())
        .collect()
    }
}

/// A parsed `sut.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SutManifest {
    /// Name in reports.
    pub name: String,
    /// How to start it; `None` when it is already running (restart, kill and pause are then
    /// not applicable).
    pub start: Option<StartSpec>,
    /// Where each simulator delivers its events.
    pub ingress: BTreeMap<System, Template>,
    /// Optional extensions.
    pub capabilities: Capabilities,
    /// The manifest as written (the run directory records it).
    pub text: String,
    file: String,
    base_dir: Option<PathBuf>,
}

/// The values of the placeholders for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    /// Base URL of each simulator (`http://127.0.0.1:PORT`).
    pub urls: BTreeMap<System, String>,
    /// The port the SUT is to listen on (`None` when andon does not start it).
    pub sut_port: Option<u16>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The andon binary (`{andon}`).
    pub andon: PathBuf,
    /// The host in `{sut.url}`: `127.0.0.1`, or the SUT container's name as the
    /// simulators see it on the run's network.
    pub sut_host: String,
}

impl Placeholders {
    /// Placeholders with `{andon}` set to the running binary.
    pub fn new(urls: BTreeMap<System, String>, sut_port: Option<u16>, run_dir: &Path) -> Self {
        Self {
            urls,
            sut_port,
            run_dir: run_dir.to_path_buf(),
            andon: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("andon")),
            sut_host: "127.0.0.1".to_string(),
        }
    }

    fn value(&self, name: &str) -> Result<String, String> {
        let url = |s: System| {
            self.urls
                .get(&s)
                .cloned()
                .ok_or_else(|| format!("{{{name}}} has no value: the {s} simulator has no URL"))
        };
        let port = || {
            self.sut_port.ok_or_else(|| {
                format!("{{{name}}} is only known when andon starts the SUT ([start])")
            })
        };
        match name {
            "erp.url" => url(System::Erp),
            "mes.url" => url(System::Mes),
            "qms.url" => url(System::Qms),
            "wms.url" => url(System::Wms),
            "sut.port" => port().map(|p| p.to_string()),
            "sut.url" => port().map(|p| format!("http://{}:{p}", self.sut_host)),
            "run.dir" => Ok(self.run_dir.display().to_string()),
            "andon" => Ok(self.andon.display().to_string()),
            other => Err(unknown_placeholder(other)),
        }
    }
}

/// How to start the SUT, placeholders filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedStart {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Environment added to andon's own.
    pub env: BTreeMap<String, String>,
    /// Readiness URL.
    pub ready: String,
    /// Container image, when the manifest names one.
    pub image: Option<String>,
    /// The container's arguments (empty: the image's own).
    pub args: Vec<String>,
    /// Longest wait for readiness.
    pub ready_timeout: Duration,
    /// SIGTERM → SIGKILL grace.
    pub stop_grace: Duration,
}

/// Where a simulator delivers its events: a plain `http://` URL with a host, parsed once
/// when the manifest is resolved (andon's emitters speak plain HTTP; a SUT behind TLS is
/// given its plain listener).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress(String);

impl Ingress {
    /// Parses an ingress URL; why not, if it cannot take deliveries.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("https://") {
            return Err(format!(
                "{url:?}: andon delivers events over plain HTTP; give the SUT's plain http:// \
                 listener (TLS in front of the SUT is not andon's to test)"
            ));
        }
        andon_simulators::emitter::verify_ingress(url)
            .map(|()| Self(url.to_string()))
            .map_err(|why| format!("{url:?} cannot take deliveries: {why}"))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A manifest with every placeholder filled for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSut {
    /// Name in reports.
    pub name: String,
    /// How to start it (`None`: already running).
    pub start: Option<ResolvedStart>,
    /// Ingress endpoint per simulator.
    pub ingress: BTreeMap<System, Ingress>,
    /// Dead-letter URL, when the SUT has the capability.
    pub dead_letters: Option<String>,
    /// Backlog URL, when the SUT has the capability.
    pub backlog: Option<String>,
    /// The port the SUT listens on, when andon starts it.
    pub port: Option<u16>,
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
        let start = match raw.start {
            None => None,
            Some(s) => {
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
                Some(StartSpec {
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
        };
        let ingress = raw.ingress.into_inner();
        let ingress: BTreeMap<System, Template> = [
            (System::Erp, ingress.erp),
            (System::Mes, ingress.mes),
            (System::Qms, ingress.qms),
            (System::Wms, ingress.wms),
        ]
        .into_iter()
        .map(|(s, t)| (s, Template::from(t)))
        .collect();
        let manifest = SutManifest {
            name: raw.name.into_inner(),
            start,
            ingress,
            capabilities: Capabilities {
                dead_letters: raw.capabilities.dead_letters.map(Template::from),
                backlog: raw.capabilities.backlog.map(Template::from),
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
        out.extend(self.ingress.values().map(|t| (t, true)));
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
                if !PLACEHOLDERS.contains(&name) {
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
        for t in self.ingress.values() {
            if t.text.starts_with("https://") {
                let why = Ingress::parse(&t.text).err().unwrap_or_default();
                return Err(self.error_in(t, None, why));
            }
        }
        Ok(())
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

    /// Fills every placeholder.
    pub fn resolve(&self, ph: &Placeholders) -> Result<ResolvedSut, ManifestError> {
        let fill = |t: &Template| -> Result<String, ManifestError> {
            scan(&t.text, |offset, name| {
                ph.value(name).map_err(|m| (offset, m))
            })
            .map_err(|(o, m)| self.error_in(t, Some(o), m))
        };
        let start = match &self.start {
            None => None,
            Some(s) => {
                let mut command = s.command.iter().map(&fill).collect::<Result<Vec<_>, _>>()?;
                if let (Some(program), Some(base)) = (command.first_mut(), &self.base_dir) {
                    let p = Path::new(program.as_str());
                    if p.is_relative() && program.contains('/') {
                        *program = base.join(p).display().to_string();
                    }
                }
                Some(ResolvedStart {
                    command,
                    env: s
                        .env
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), fill(v)?)))
                        .collect::<Result<_, ManifestError>>()?,
                    ready: fill(&s.ready)?,
                    image: s.image.as_ref().map(&fill).transpose()?,
                    args: s.args.iter().map(&fill).collect::<Result<_, _>>()?,
                    ready_timeout: s.ready_timeout,
                    stop_grace: s.stop_grace,
                })
            }
        };
        Ok(ResolvedSut {
            name: self.name.clone(),
            start,
            ingress: self
                .ingress
                .iter()
                .map(|(s, t)| {
                    let url = fill(t)?;
                    let ingress =
                        Ingress::parse(&url).map_err(|why| self.error_in(t, None, why))?;
                    Ok((*s, ingress))
                })
                .collect::<Result<_, ManifestError>>()?,
            dead_letters: self
                .capabilities
                .dead_letters
                .as_ref()
                .map(&fill)
                .transpose()?,
            backlog: self.capabilities.backlog.as_ref().map(&fill).transpose()?,
            port: if self.start.is_some() {
                ph.sut_port
            } else {
                None
            },
        })
    }
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
