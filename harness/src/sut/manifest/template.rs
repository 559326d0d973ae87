//! Templates and placeholders: a string of the manifest with `{name}` placeholders (and
//! `{{`/`}}` for literal braces), found with their offsets so that an error names its
//! column, and the values a run fills them with.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use andon_contracts::System;
use toml::Spanned;

/// Every placeholder name, in the order messages list them.
pub const PLACEHOLDERS: &[&str] = &[
    "erp.url",
    "mes.url",
    "qms.url",
    "wms.url",
    "erp.dialects",
    "erp.PLANT.url",
    "sut.port",
    "sut.url",
    "run.dir",
    "andon",
    "broker",
    "sut.instance",
];

/// Whether `name` is a placeholder: one of [`PLACEHOLDERS`], or `erp.<plant>.url`.
pub fn is_placeholder(name: &str) -> bool {
    PLACEHOLDERS.contains(&name) && name != "erp.PLANT.url" || plant_url(name).is_some()
}

/// The plant of an `erp.<plant>.url` placeholder.
fn plant_url(name: &str) -> Option<andon_contracts::PlantId> {
    let plant = name.strip_prefix("erp.")?.strip_suffix(".url")?;
    andon_contracts::PlantId::parse(plant).ok()
}

/// A string of the manifest with `{placeholders}`, remembering where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub(super) text: String,
    pub(super) span: Range<usize>,
}

impl Template {
    /// The text as written (placeholders unfilled).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(super) fn from(s: Spanned<String>) -> Self {
        Self {
            span: s.span(),
            text: s.into_inner(),
        }
    }

    /// The placeholders it uses, with their byte offset in the text.
    pub(super) fn placeholders(&self) -> Result<Vec<(usize, &str)>, (usize, String)> {
        let mut out = Vec::new();
        scan(&self.text, |offset, name| {
            out.push((offset, name));
            Ok(String::new())
        })?;
        Ok(out)
    }
}

/// Walks `text`, handing each `{name}` to `fill`; returns the filled text.
pub(super) fn scan<'t>(
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

pub(super) fn unknown_placeholder(name: &str) -> String {
    let all: Vec<String> = PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect();
    format!(
        "unknown placeholder {{{name}}}, expected one of {}",
        all.join(", ")
    )
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
    /// The vendor dialect of each plant's ERP that speaks one (`{erp.dialects}`,
    /// `{erp.<plant>.url}`).
    pub dialects: andon_simulators::dialect::Dialects,
    /// The run's MQTT broker as the SUT reaches it (`mqtt://host:port`), when a plant
    /// publishes to one.
    pub broker: Option<String>,
    /// Which instance of the SUT this is, from 1 (a scenario may run several behind one
    /// shared subscription).
    pub sut_instance: u32,
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
            dialects: Default::default(),
            broker: None,
            sut_instance: 1,
        }
    }

    pub(super) fn value(&self, name: &str) -> Result<String, String> {
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
            "broker" => Ok(self.broker.clone().unwrap_or_default()),
            // Empty for the first instance, so that one instance is named as ever.
            "sut.instance" => Ok(match self.sut_instance {
                0 | 1 => String::new(),
                n => format!("-{n}"),
            }),
            "erp.dialects" => Ok(self
                .dialects
                .iter()
                .map(|(p, b)| format!("{p}={b}"))
                .collect::<Vec<_>>()
                .join(",")),
            other => match plant_url(other) {
                // A plant on a vendor dialect has a system of its own under the ERP's URL.
                Some(p) => url(System::Erp).map(|u| match self.dialects.get(&p) {
                    Some(b) if b.dialect.per_plant() => format!("{u}/plant/{p}"),
                    _ => u,
                }),
                None => Err(unknown_placeholder(other)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plant_on_a_vendor_dialect_has_its_own_erp_url() {
        let urls = [(System::Erp, "http://127.0.0.1:9".to_string())].into();
        let mut ph = Placeholders::new(urls, None, Path::new("run"));
        let p2000 = andon_contracts::PlantId::parse("2000").unwrap();
        ph.dialects.insert(p2000, "s4hana@2408".parse().unwrap());
        assert_eq!(
            ph.value("erp.2000.url").unwrap(),
            "http://127.0.0.1:9/plant/2000"
        );
        assert_eq!(ph.value("erp.1000.url").unwrap(), "http://127.0.0.1:9");
        assert_eq!(ph.value("erp.dialects").unwrap(), "2000=s4hana@2408");
        assert!(is_placeholder("erp.2000.url") && !is_placeholder("erp.PLANT.url"));
        assert!(ph.value("erp.x.url").is_err());
    }
}
