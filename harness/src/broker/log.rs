//! What the broker's log tells about a run: the clients it dropped messages for because
//! their queue was full (`max_queued_messages`). Mosquitto acknowledged those messages to
//! the plant and then threw them away; no counter of its own counts them, only this line:
//!
//! ```text
//! 2026-12-07T06:40:01+0000: Outgoing messages are being dropped for client andon-reference.
//! ```

use std::path::Path;

use chrono::{DateTime, Utc};

/// A client whose queue overflowed, from when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropping {
    /// When the broker began dropping (its log's first such line for the client).
    pub at: DateTime<Utc>,
    /// The client's id.
    pub client: String,
}

const DROPPING: &str = ": Outgoing messages are being dropped for client ";

/// The dropping episodes in the log text, in order (a client once per episode: the broker
/// logs again only after the queue drained).
pub fn droppings(log: &str) -> Vec<Dropping> {
    log.lines()
        .filter_map(|line| {
            let (stamp, client) = line.split_once(DROPPING)?;
            let at = DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%z").ok()?;
            Some(Dropping {
                at: at.with_timezone(&Utc),
                client: client.trim_end().trim_end_matches('.').to_string(),
            })
        })
        .collect()
}

/// The dropping episodes of the broker whose files are in `dir` (none when it wrote no log).
pub fn read_droppings(dir: &Path) -> Vec<Dropping> {
    std::fs::read_to_string(dir.join("mosquitto.log"))
        .map(|t| droppings(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dropping_lines_name_the_client_and_the_time() {
        let log = "2026-12-07T06:40:00+0000: mosquitto version 2.0.11 running\n\
                   2026-12-07T06:40:01+0000: Outgoing messages are being dropped for client andon-reference.\n\
                   garbage: Outgoing messages are being dropped for client x.\n\
                   2026-12-07T07:40:02+0100: Outgoing messages are being dropped for client other.\n";
        let d = droppings(log);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].client, "andon-reference");
        assert_eq!(d[0].at.to_rfc3339(), "2026-12-07T06:40:01+00:00");
        assert_eq!(d[1].client, "other");
        assert_eq!(d[1].at.to_rfc3339(), "2026-12-07T06:40:02+00:00");
        assert!(droppings("").is_empty());
    }
}
