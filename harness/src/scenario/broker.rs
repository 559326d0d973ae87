//! What a scenario says about the run's MQTT broker: its set-up (`broker:`) and its faults
//! (`target: broker`).

use andon_simulators::faults::Dur;
use serde::{Deserialize, Serialize};

use super::Scenario;
use super::yaml::Ctx;

/// The most instances of the SUT a scenario may run side by side.
pub const MAX_INSTANCES: u32 = 8;

/// Checks `instances`: from 1 to [`MAX_INSTANCES`].
pub(super) fn instances(ctx: &mut Ctx, s: &Scenario) {
    if !(1..=MAX_INSTANCES).contains(&s.instances) {
        ctx.at(
            ypath!["instances"],
            format!(
                "instances {} must be from 1 to {MAX_INSTANCES}: how many instances of the SUT run side by side",
                s.instances
            ),
        );
    }
}

/// What andon does to the run's MQTT broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerFaultKind {
    /// SIGTERM (it saves its persistence file), then start again at once.
    Restart,
    /// SIGKILL (what it saved last, at most a second ago, is what it has), then start again.
    Kill,
    /// SIGTERM, down for `for` (publishes and the SUT's connection are refused), then
    /// start again.
    Stop,
    /// The network between the broker and the SUT cut for `for` (containers runtime, the
    /// SUT in a container): its connection goes dead, the plants keep publishing.
    Partition,
}

impl BrokerFaultKind {
    /// Every broker fault kind.
    pub const ALL: [BrokerFaultKind; 4] = [Self::Restart, Self::Kill, Self::Stop, Self::Partition];

    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Kill => "kill",
            Self::Stop => "stop",
            Self::Partition => "partition",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A fault on the run's MQTT broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerFault {
    /// What to do.
    pub kind: BrokerFaultKind,
    /// How long a stop lasts (only `stop` has one).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
}

/// How the run's MQTT broker is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerOptions {
    /// Stale events left retained on the broker before the middleware starts, as an
    /// earlier run or another plant leaves them (a shipment on the WMS's topic):
    /// a middleware that acts on a retained message posts what never happened in this run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stale_retained: u32,
    /// Messages the broker queues per client beyond those in flight; further ones are
    /// dropped (default 10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queued_messages: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl BrokerOptions {
    /// Whether nothing is set.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
