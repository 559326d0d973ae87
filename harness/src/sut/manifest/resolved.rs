//! A manifest resolved for one run: every placeholder filled, the ingress endpoints
//! parsed ([`Ingress`]), the errors placed at the template they came from.

use std::collections::BTreeMap;
use std::time::Duration;

use andon_contracts::System;

use std::path::Path;

use super::{ManifestError, Placeholders, SutManifest, Template, scan};

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
    pub fn parse(url: &str) -> Result<Self, IngressError> {
        if url.starts_with("https://") {
            return Err(IngressError::Https(url.to_string()));
        }
        andon_simulators::emitter::verify_ingress(url)
            .map(|()| Self(url.to_string()))
            .map_err(|source| IngressError::Undeliverable {
                url: url.to_string(),
                source,
            })
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an ingress URL cannot take deliveries.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// TLS: the simulators deliver over plain HTTP.
    #[error(
        "{0:?}: andon delivers events over plain HTTP; give the SUT's plain http:// listener \
         (TLS in front of the SUT is not andon's to test)"
    )]
    Https(String),
    /// Not a plain `http://` URL with a host.
    #[error("{url:?} cannot take deliveries: {source}")]
    Undeliverable {
        /// The URL.
        url: String,
        /// Why.
        source: andon_simulators::emitter::IngressError,
    },
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
    /// Webhook ingress per simulator, for the systems whose events the SUT takes as
    /// webhooks.
    pub ingress: BTreeMap<System, Ingress>,
    /// Broker subscription per simulator, for the systems whose events the SUT consumes
    /// from a broker.
    pub mqtt: BTreeMap<System, super::MqttIngress>,
    /// Dead-letter URL, when the SUT has the capability.
    pub dead_letters: Option<String>,
    /// Backlog URL, when the SUT has the capability.
    pub backlog: Option<String>,
    /// The port the SUT listens on, when andon starts it.
    pub port: Option<u16>,
}

impl SutManifest {
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
                .filter_map(|(s, i)| Some((s, i.webhook.as_ref()?)))
                .map(|(s, t)| {
                    let url = fill(t)?;
                    let ingress = Ingress::parse(&url)
                        .map_err(|why| self.error_in(t, None, why.to_string()))?;
                    Ok((*s, ingress))
                })
                .collect::<Result<_, ManifestError>>()?,
            mqtt: self
                .ingress
                .iter()
                .filter_map(|(s, i)| Some((*s, i.mqtt.clone()?)))
                .collect(),
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
