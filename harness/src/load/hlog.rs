//! The HDR interval log of a load run (`latency.hlog`): one end-to-end and one ingress
//! histogram per second of intended send time, tagged `e2e` and `ingress`, in the
//! HdrHistogram log format 1.3 (compressed V2 histograms). Values are microseconds; the
//! max column is in milliseconds. HdrHistogram's `HistogramLogAnalyzer` and
//! `HistogramLogProcessor`, and this crate's reader, open it.

use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::measure::Measures;

/// The file name in the run directory.
pub const FILE: &str = "latency.hlog";

/// The interval log of `m`.
pub fn render(m: &Measures) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start: SystemTime = m.start.into();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("andon load: latency per second of intended send time, in microseconds")
        .add_comment("tags: e2e = source event to its effect in the target simulator; ingress = to the SUT's 2xx answer")
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| e.to_string())?;
    let one = Duration::from_secs(1);
    for s in &m.seconds {
        let at = Duration::from_secs(s.second);
        for (tag, h) in [("e2e", &s.e2e), ("ingress", &s.ingress)] {
            if h.is_empty() {
                continue;
            }
            log.write_histogram(h, at, one, Tag::new(tag))
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    drop(log);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn every_second_is_logged_and_reads_back() {
        let start = chrono::Utc::now();
        let mut m = Measures::from_records(&[], start, Duration::from_secs(2));
        for second in 0..2u64 {
            let mut s = super::super::measure::Second::new(second);
            s.e2e.record(1000 * (second + 1)).unwrap();
            s.ingress.record(500).unwrap();
            m.seconds.push(s);
        }
        let bytes = render(&m).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut seen = Vec::new();
        for entry in IntervalLogIterator::new(text.as_bytes()) {
            if let LogEntry::Interval(i) = entry.unwrap() {
                assert!(!i.encoded_histogram().is_empty());
                seen.push((i.tag().map(|t| t.as_str().to_string()), i.max()));
            }
        }
        assert_eq!(seen.len(), 4, "{text}");
        assert_eq!(seen[0].0.as_deref(), Some("e2e"));
        // The max column is in milliseconds: 2 ms in the second second.
        assert!((seen[2].1 - 2.0).abs() < 0.01, "{seen:?}");
    }
}
