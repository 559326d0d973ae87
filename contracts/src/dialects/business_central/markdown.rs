//! The tables of the dialect's README generated from its files: the error table
//! (`errors.yaml`), the limits (`limits.yaml`) and the fields BC cannot carry
//! (`unjudged.yaml`). A test checks the README holds them as rendered here.

use super::{ErrorRow, Limits, RELEASES, Unjudged};

/// The error table as the README shows it.
pub fn errors_markdown() -> String {
    let mut o = String::from(
        "| andon problem | status | `error.code` | origin | message | when |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in super::errors() {
        o.push_str(&error_line(row));
    }
    o
}

/// One row of the error table, with what later releases change.
fn error_line(row: &ErrorRow) -> String {
    let problem = match &row.case {
        Some(case) => format!("`{}` ({case})", row.problem),
        None => format!("`{}`", row.problem),
    };
    let (mut status, mut code, mut origin) = (
        row.status.to_string(),
        format!("`{}`", row.code),
        row.origin.clone(),
    );
    let mut message = format!("`{}`", row.message);
    let base = row.at(RELEASES[0]);
    for release in &RELEASES[1..] {
        let a = row.at(release);
        if a.status != base.status {
            status.push_str(&format!("; {release}: {}", a.status));
        }
        if a.code != base.code {
            code.push_str(&format!("; {release}: `{}`", a.code));
        }
        if a.origin != base.origin {
            origin.push_str(&format!("; {release}: {}", a.origin));
        }
        if a.message != base.message {
            message.push_str(&format!("; {release}: `{}`", a.message));
        }
    }
    format!(
        "| {problem} | {status} | {code} | {origin} | {message} | {} |\n",
        row.meaning
    )
}

/// The limits as the README shows them.
pub fn limits_markdown() -> String {
    let l: &Limits = super::limits();
    let rows: [(&str, String, &str); 9] = [
        (
            "requests_per_window",
            l.requests_per_window.to_string(),
            "requests per plant and client in the sliding window; one more answers 429",
        ),
        (
            "window_seconds",
            l.window_seconds.to_string(),
            "the sliding window, seconds (wall clock)",
        ),
        (
            "max_concurrent",
            l.max_concurrent.to_string(),
            "requests processed at the same time",
        ),
        (
            "max_queued",
            l.max_queued.to_string(),
            "requests waiting beyond those; one more answers 429",
        ),
        (
            "max_batch_operations",
            l.max_batch_operations.to_string(),
            "requests in one `$batch`; more answers 400",
        ),
        (
            "handshake_timeout_seconds",
            l.handshake_timeout_seconds.to_string(),
            "time to answer the validation handshake, seconds (wall clock)",
        ),
        (
            "subscription_lifetime_days",
            l.subscription_lifetime_days.to_string(),
            "a subscription's life from its create or renewal, days of business time",
        ),
        (
            "max_subscriptions",
            l.max_subscriptions.to_string(),
            "live subscriptions per plant; one more answers 400",
        ),
        (
            "retry_after_seconds",
            l.retry_after_seconds.to_string(),
            "`Retry-After` of a 429 for a full queue; the least for the rate window",
        ),
    ];
    let mut o = String::from("| setting | value | meaning |\n|---|---|---|\n");
    for (name, value, meaning) in rows {
        o.push_str(&format!("| `{name}` | {value} | {meaning} |\n"));
    }
    o
}

/// The fields BC cannot carry as the README shows them.
pub fn unjudged_markdown() -> String {
    let mut o = String::from("| event or call | field | judged | why |\n|---|---|---|---|\n");
    for u in super::unjudged() {
        o.push_str(&unjudged_line(u));
    }
    o
}

/// One field BC cannot carry.
fn unjudged_line(u: &Unjudged) -> String {
    let at = match (&u.event, &u.route) {
        (Some(event), _) => format!("`{event}`"),
        (None, Some(route)) => format!("`{route}`"),
        (None, None) => String::new(),
    };
    let judged = match u.limit {
        Some(n) => format!("the first {n} characters"),
        None => "not at all".to_string(),
    };
    format!("| {at} | `{}` | {judged} | {} |\n", u.field, u.why)
}
