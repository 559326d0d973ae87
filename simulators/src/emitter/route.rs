//! Where an emitter's events go: a route per plant (or one for every plant), each an
//! ingress URL parsed by its scheme — a webhook (`http://`) or a broker (`mqtt://`).

use andon_contracts::PlantId;
use serde::{Deserialize, Serialize};

use super::mqtt;
use crate::http1::{IngressError, Target};

/// Where events go: the ingress of every plant, and the plants whose events go elsewhere
/// (a plant whose MES publishes to a broker while the others post webhooks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routes {
    /// The ingress of every plant not in `plants` (none: their events wait).
    #[serde(default)]
    pub default: Option<String>,
    /// A plant's own ingress.
    #[serde(default)]
    pub plants: std::collections::BTreeMap<PlantId, String>,
}

impl Routes {
    /// Where `plant`'s events go, if anywhere yet.
    pub fn of(&self, plant: &PlantId) -> Option<&str> {
        self.plants
            .get(plant)
            .or(self.default.as_ref())
            .map(String::as_str)
    }

    /// Whether any event can go anywhere.
    pub fn any(&self) -> bool {
        self.default.is_some() || !self.plants.is_empty()
    }
}

/// Whether events can be delivered to `url`: plain `http://` with a host, or a broker's
/// `mqtt://host:port/<topic template>` ([`mqtt::MqttTarget`]); why not, if not.
pub fn verify_ingress(url: &str) -> Result<(), IngressError> {
    Dest::parse(url).map(drop)
}

/// A parsed ingress: a webhook URL or a broker and topic layout.
#[derive(Debug, Clone)]
pub(crate) enum Dest {
    /// POSTed over HTTP.
    Http(Target),
    /// Published to a broker.
    Mqtt(mqtt::MqttTarget),
}

impl Dest {
    /// Parses an ingress URL by its scheme.
    pub(crate) fn parse(url: &str) -> Result<Self, IngressError> {
        if url.starts_with("mqtt://") {
            mqtt::MqttTarget::parse(url).map(Dest::Mqtt)
        } else {
            Target::parse(url).map(Dest::Http)
        }
    }
}
