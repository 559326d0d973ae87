//! What the checkers share, re-exported here so that each checker reads `common::X`: the
//! history's indexes ([`crate::history::index`]); `expected` — the effects an event owes,
//! from the flows of `contracts/flows.yaml`; `rejection` — whether a 422 excuses a missing
//! effect; `wording` — plain-language wording and the bounded witness collector.

mod dialect;
mod expected;
mod rejection;
mod subscriptions;
mod wording;

pub(crate) use dialect::*;
pub(crate) use expected::*;
pub(crate) use rejection::*;
pub(crate) use subscriptions::*;
pub(crate) use wording::*;

pub(crate) use crate::history::index::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{MAX_WITNESSES, Witness};

    #[test]
    fn trace_ids_are_checked() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(trace_id(tp), Some("0af7651916cd43dd8448eb211c80319c"));
        assert_eq!(
            trace_id("00-0000000000000000000000000000000-b7ad6b7169203331-01"),
            None
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
            None
        );
        assert_eq!(trace_id("garbage"), None);
        assert_eq!(
            trace_id("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"),
            None
        );
    }

    #[test]
    fn witnesses_keep_the_earliest_of_every_category() {
        let w = |s: &str| Witness {
            event: None,
            system: None,
            expected: s.into(),
            happened: s.into(),
            trace_id: None,
        };
        let mut c = Witnesses::default();
        for i in (0..50).rev() {
            c.push("a", i, || w(&format!("a{i}")));
        }
        c.push("b", 100, || w("b100"));
        let out = c.finish();
        assert_eq!(out.len(), MAX_WITNESSES);
        assert_eq!(out[0].expected, "a0");
        assert_eq!(out.last().unwrap().expected, "b100");
        assert_eq!(
            out[MAX_WITNESSES - 2].expected,
            format!("a{}", MAX_WITNESSES - 2)
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_us(12_300_000), "12.3 s");
        assert_eq!(fmt_us(850_000), "850.0 ms");
        assert_eq!(fmt_us(40), "40 µs");
    }
}
