//! The contract's rules on the sequence of calls rather than on one call: the waits a
//! `Retry-After` asks for (`retry_after_ignored`), an ETag sent again after its system
//! refused it 412 (`stale_etag_resent`), and the changes a Business Central plant could not
//! notify because the middleware let its subscription lapse (`subscription_lapsed`).

use andon_contracts::System;
use andon_simulators::history::Record;

use super::super::Witness;
use super::super::common::{self, Events, describe, fmt_time, sys};
use super::{Call, Findings};

/// Calls that started this soon after a wait's first `Retry-After` answer were in flight,
/// or raced it: the answer is recorded as the system sends it, and the middleware's other
/// workers go on sending until it has read it, which on a loaded machine (two cores, the
/// SUT and a broker in containers beside the run) was seen to take 120 ms. A middleware
/// that ignores the wait goes on calling through the rest of it.
const RETRY_AFTER_GRACE_MS: i64 = 250;

impl<'r> Findings<'r> {
    /// Counts and witnesses the changes a Business Central plant did not notify after the
    /// middleware had subscribed there.
    pub(super) fn lapses(&mut self, records: &[Record], events: &Events<'_>) {
        let (lapses, _) = common::lapses(records);
        for l in lapses {
            *self.counts.entry("subscription_lapsed").or_default() += 1;
            let ev = l.event.as_ref().and_then(|e| events.get(e));
            self.w.push("subscription_lapsed", l.idx, || Witness {
                event: l.event.clone(),
                system: Some(System::Erp),
                expected: format!(
                    "a live Business Central subscription on {} of plant {} (renewed before it expired)",
                    l.sets, l.plant
                ),
                happened: format!(
                    "{} was not notified: no live subscription{}",
                    ev.map(describe).unwrap_or_else(|| "a change".into()),
                    l.ended
                        .as_ref()
                        .map(|(t, how)| format!(" (the last one {how} at {})", fmt_time(*t)))
                        .unwrap_or_default()
                ),
                trace_id: ev.and_then(|e| e.trace()),
            });
        }
    }

    /// Counts and witnesses a call whose `If-Match` its system had already refused 412 on
    /// the same path, and notes the call's own 412.
    pub(super) fn stale_etag(&mut self, call: &Call<'r>) {
        let Some(tag) = call.if_match else {
            return;
        };
        let r = call.record;
        let key = (r.system, call.path, tag);
        let started = r.at - chrono::Duration::microseconds(call.latency_us as i64);
        if let Some(refused) = self.stale.get(&key).copied()
            && started > refused
        {
            *self.counts.entry("stale_etag_resent").or_default() += 1;
            self.w.push("stale_etag_resent", call.idx, || Witness {
                event: call.sources.first().cloned(),
                system: Some(r.system),
                expected: format!(
                    "a fresh read of {} for its current ETag after {} refused If-Match: {tag} (412 at {})",
                    call.path,
                    sys(r.system),
                    fmt_time(refused)
                ),
                happened: format!(
                    "{} {} was sent again with the same If-Match (answered {})",
                    call.method, call.path, call.status
                ),
                trace_id: call.trace(),
            });
        }
        if call.status == 412 && common::reached_system(call.fault) {
            self.stale.entry(key).or_insert(r.at);
        }
    }

    /// Counts and witnesses a call sent while its system's `Retry-After` was in force, and
    /// notes the call's own `Retry-After` answer.
    pub(super) fn retry_after(&mut self, call: &Call<'_>) {
        let r = call.record;
        let started = r.at - chrono::Duration::microseconds(call.latency_us as i64);
        if let Some((answered, until, secs)) = self.hold_off.get(&r.system).copied()
            && started > answered + chrono::Duration::milliseconds(RETRY_AFTER_GRACE_MS)
            && started < until
        {
            *self.counts.entry("retry_after_ignored").or_default() += 1;
            let after_ms = (started - answered).num_milliseconds();
            self.w.push("retry_after_ignored", call.idx, || Witness {
                event: call.sources.first().cloned(),
                system: Some(r.system),
                expected: format!(
                    "no call to {} for {secs} s after its Retry-After answer at {}",
                    sys(r.system),
                    fmt_time(answered)
                ),
                happened: format!(
                    "{} {} was sent {after_ms} ms after it (answered {})",
                    call.method, call.route, call.status
                ),
                trace_id: call.trace(),
            });
        }
        if matches!(call.status, 429 | 503)
            && let Some(secs) = call.retry_after_s
            && secs > 0
        {
            let until = r.at + chrono::Duration::milliseconds(secs as i64 * 900);
            let entry = self.hold_off.entry(r.system).or_insert((r.at, until, secs));
            // An answer while a wait is in force extends it; the calls in flight are those
            // that started before the wait's first answer (else a SUT that keeps hammering
            // would renew its own grace with every 429 it provokes).
            if r.at >= entry.1 {
                *entry = (r.at, until, secs);
            } else {
                entry.1 = entry.1.max(until);
            }
        }
    }
}
