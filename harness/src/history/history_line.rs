//! A fast reader of one history line.
//!
//! `Record` flattens an internally tagged `Entry`, so serde buffers every line into an
//! intermediate tree and deserializes each JSON payload twice. Here one flat struct with
//! every field any entry may have is read in a single pass (the `event` field, a
//! `CloudEvent` or a `SourceRef` depending on the tag, is kept as raw text and read once
//! the tag is known) and then assembled into the `Entry` the tag names. Anything this
//! reader does not accept — a missing field, an unknown tag, an escaped tag — returns
//! `None`, and the caller falls back to `Record`'s own deserializer, whose error message is
//! the one users see. Building each variant by name makes a new `Entry` field a compile
//! error here; `tests` compares both readers on every variant.

use andon_contracts::{CloudEvent, Json, PlantId, SourceRef, System};
use andon_simulators::history::{Entry, Outcome, Record, RequestEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A UTC time as andon writes it (`2026-11-02T06:00:00.000114Z`: the date, the time, up to
/// nine digits of a second's fraction, `Z`) read without chrono's general parser, which is
/// the costliest part of reading a history line, and without copying the string; anything
/// else (another offset, a leap second) is read by chrono, as `DateTime`'s own deserializer
/// would.
fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    /// Reads the string where it lies, borrowed or not (no copy of it is made).
    struct Time;
    impl serde::de::Visitor<'_> for Time {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 time")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            match fast_utc(text.as_bytes()) {
                Some(t) => Ok(t),
                None => text
                    .parse::<DateTime<chrono::FixedOffset>>()
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(E::custom),
            }
        }
    }
    d.deserialize_str(Time)
}

/// [`utc`], for an optional field.
fn utc_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    utc(d).map(Some)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, or `None` (the caller asks chrono).
fn fast_utc(b: &[u8]) -> Option<DateTime<Utc>> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    let (head, rest) = (b.get(..19)?, b.get(19..)?);
    if [head[4], head[7], head[10], head[13], head[16]] != *b"--T::" {
        return None;
    }
    let (fraction, z) = rest.split_last()?;
    if *fraction != b'Z' {
        return None;
    }
    let nanos = match z {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(num(&head[0..4])?).ok()?,
        num(&head[5..7])?,
        num(&head[8..10])?,
    )?;
    let (h, m, sec) = (
        num(&head[11..13])?,
        num(&head[14..16])?,
        num(&head[17..19])?,
    );
    if sec > 59 {
        return None;
    }
    let time = chrono::NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// A field that is present, even as `null` (which `Option` would read as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// A `CloudEvent` whose `data` is kept as the text it is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlatEvent<'a> {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    type_: String,
    subject: String,
    #[serde(deserialize_with = "utc")]
    time: DateTime<Utc>,
    datacontenttype: String,
    plant: PlantId,
    sequence: u64,
    traceparent: String,
    #[serde(borrow)]
    data: &'a RawValue,
}

impl FlatEvent<'_> {
    fn into_event(self) -> CloudEvent {
        CloudEvent {
            specversion: self.specversion,
            id: self.id,
            source: self.source,
            type_: self.type_,
            subject: self.subject,
            time: self.time,
            datacontenttype: self.datacontenttype,
            plant: self.plant,
            sequence: self.sequence,
            traceparent: self.traceparent,
            data: Json::from_raw(self.data),
        }
    }
}

#[derive(Deserialize)]
struct Flat<'a> {
    seq: u64,
    #[serde(deserialize_with = "utc")]
    at: DateTime<Utc>,
    system: System,
    #[serde(borrow)]
    record: &'a str,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "utc_opt")]
    intended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    poison: Option<String>,
    #[serde(default)]
    attempt: Option<u32>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    puback: Option<u8>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    rejected: bool,
    #[serde(default)]
    latency_us: Option<u64>,
    #[serde(default)]
    capacity: Option<usize>,
    #[serde(default)]
    refused: Option<u64>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    traceparent: Option<String>,
    #[serde(default)]
    if_match: Option<String>,
    #[serde(default)]
    sources: Vec<SourceRef>,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
    #[serde(default)]
    valid: Option<bool>,
    #[serde(default)]
    violations: Vec<String>,
    #[serde(default)]
    problem: Option<String>,
    #[serde(default)]
    replayed: bool,
    #[serde(default)]
    fault: Option<String>,
    #[serde(default)]
    retry_after_s: Option<u64>,
    #[serde(default)]
    dialect: Option<Box<andon_simulators::history::DialectCall>>,
    #[serde(default)]
    effect: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(borrow, default, deserialize_with = "present")]
    detail: Option<&'a RawValue>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(borrow, default, deserialize_with = "present")]
    spec: Option<&'a RawValue>,
    #[serde(default)]
    name: Option<String>,
}

/// Reads one line, or `None` when only `Record`'s own deserializer can say what it is.
pub(crate) fn parse(line: &[u8]) -> Option<Record> {
    let f: Flat<'_> = serde_json::from_slice(line).ok()?;
    let entry = match f.record {
        "event_emitted" => Entry::EventEmitted {
            event: serde_json::from_str::<FlatEvent<'_>>(f.event?.get())
                .ok()?
                .into_event()
                .into(),
            intended_at: f.intended_at?,
            poison: f.poison,
        },
        "delivery" => Entry::Delivery {
            event: serde_json::from_str::<SourceRef>(f.event?.get()).ok()?,
            attempt: f.attempt?,
            url: f.url?,
            outcome: f.outcome?,
            status: f.status,
            puback: f.puback,
            error: f.error,
            content_type: f.content_type,
            rejected: f.rejected,
            latency_us: f.latency_us?,
        },
        "buffer_full" => Entry::BufferFull {
            capacity: f.capacity?,
            refused: f.refused?,
        },
        "request" => Entry::Request(Box::new(RequestEntry {
            method: f.method?,
            path: f.path?,
            route: f.route?,
            idempotency_key: f.idempotency_key,
            traceparent: f.traceparent,
            if_match: f.if_match,
            sources: f.sources,
            body: f.body.map(Json::from_raw),
            valid: f.valid,
            violations: f.violations,
            status: f.status?,
            content_type: f.content_type,
            problem: f.problem,
            replayed: f.replayed,
            fault: f.fault,
            retry_after_s: f.retry_after_s,
            latency_us: f.latency_us?,
            dialect: f.dialect,
        })),
        "effect" => Entry::Effect {
            effect: f.effect?,
            key: f.key?,
            sources: f.sources,
            traceparent: f.traceparent,
            outcome: f.outcome?,
            detail: Json::from_raw(f.detail?),
        },
        "fault" => Entry::Fault {
            id: f.id?,
            action: f.action?,
            kind: f.kind?,
            spec: f.spec.map_or_else(Json::null, Json::from_raw),
        },
        "note" => Entry::Note {
            name: f.name?,
            detail: Json::from_raw(f.detail?),
        },
        _ => return None,
    };
    Some(Record {
        seq: f.seq,
        at: f.at,
        system: f.system,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_variant_as_record_does() {
        let run = crate::check::synthetic::synthetic_history(400, 5);
        let mut kinds = std::collections::BTreeSet::new();
        let mut lines: Vec<String> = run
            .records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        lines.push(r#"{"seq":1,"at":"2026-11-02T06:00:00Z","system":"mes","record":"buffer_full","capacity":10,"refused":3}"#.into());
        lines.push(r#"{"seq":2,"at":"2026-11-02T06:00:00Z","system":"mes","record":"fault","id":"f","action":"applied","kind":"hang"}"#.into());
        lines.push(r#"{"seq":3,"at":"2026-11-02T06:00:00Z","system":"erp","record":"effect","effect":"erp.x","key":"k","outcome":"info","detail":null}"#.into());
        lines.push(r#"{"seq":4,"at":"2026-11-02T06:00:00Z","system":"erp","record":"delivery","event":{"source":"s","id":"i"},"attempt":2,"url":"u","outcome":"fail","error":"refused","latency_us":5}"#.into());
        for l in &lines {
            let slow: Record = serde_json::from_str(l).unwrap();
            let fast = parse(l.as_bytes()).unwrap_or_else(|| panic!("fast reader refused {l}"));
            assert_eq!(fast, slow, "{l}");
            kinds.insert(
                l.split("\"record\":\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        assert_eq!(kinds.len(), 7, "{kinds:?}");
    }

    #[test]
    fn times_read_as_chrono_reads_them() {
        for t in [
            "2026-11-02T06:00:00Z",
            "2026-11-02T06:00:00.000114Z",
            "2026-11-02T06:00:00.1Z",
            "2026-11-02T06:00:00.123456789Z",
            "2024-02-29T23:59:59.999999999Z",
        ] {
            assert_eq!(fast_utc(t.as_bytes()), Some(t.parse().unwrap()), "{t}");
        }
        // What the fast path leaves to chrono: other offsets, a leap second, ten digits,
        // impossible dates, anything not quite the shape.
        for t in [
            "2026-11-02T06:00:00+01:00",
            "2026-11-02T06:00:00.5+00:00",
            "2026-12-31T23:59:60Z",
            "2026-11-02T06:00:00.1234567891Z",
            "2026-02-30T06:00:00Z",
            "2026-11-02 06:00:00Z",
            "2026-11-02T06:00:00.Z",
            "2026-11-02T24:00:00Z",
            "+2026-11-02T06:00:00Z",
            "2026-11-02T06:00:00z",
        ] {
            assert_eq!(fast_utc(t.as_bytes()), None, "{t}");
        }
        // Through the reader: the fallback still reads another offset, and refuses nonsense.
        let line = |at: &str| {
            format!(
                r#"{{"seq":1,"at":"{at}","system":"mes","record":"note","name":"n","detail":null}}"#
            )
        };
        let r = parse(line("2026-11-02T07:00:00+01:00").as_bytes()).expect("read by chrono");
        assert_eq!(
            r.at,
            "2026-11-02T06:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(parse(line("2026-11-02T06:00:00.Z").as_bytes()).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(23),
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// Whatever the fast path accepts, chrono reads the same; whatever is written as
        /// andon writes it, the fast path accepts.
        #[test]
        fn the_fast_path_agrees_with_chrono(
            secs in 0i64..4_102_444_800,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..=9,
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3),
            at in 0usize..30,
        ) {
            let t = DateTime::<Utc>::from_timestamp(secs, nanos).unwrap();
            let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if digits > 0 {
                text.push_str(&format!(".{:09}", nanos)[..digits + 1]);
            }
            text.push('Z');
            let fast = fast_utc(text.as_bytes());
            proptest::prop_assert!(fast.is_some(), "{}", text);
            proptest::prop_assert_eq!(fast, text.parse::<DateTime<Utc>>().ok());
            // Damaged: the fast path either refuses or agrees with chrono.
            let mut bytes = text.into_bytes();
            let at = at.min(bytes.len());
            bytes.splice(at..at, noise);
            if let Some(fast) = fast_utc(&bytes) {
                let chrono = std::str::from_utf8(&bytes).ok().and_then(|s| s.parse::<DateTime<Utc>>().ok());
                proptest::prop_assert_eq!(Some(fast), chrono);
            }
        }
    }

    #[test]
    fn refuses_what_record_refuses() {
        for l in [
            r#"{"seq":1,"at":"2026-11-02T06:00:00Z","system":"mes","record":"meteor"}"#,
            r#"{"seq":1,"at":"2026-11-02T06:00:00Z","system":"mes","record":"note","name":"n"}"#,
            r#"{"seq":1,"at":"2026-11-02T06:00:00Z","system":"mes","record":"request","method":"GET"}"#,
        ] {
            assert!(serde_json::from_str::<Record>(l).is_err());
            assert!(parse(l.as_bytes()).is_none(), "{l}");
        }
    }
}
