//! The document a third party reads: the flows rendered as Markdown (`docs/flows.md`,
//! written by `andon docs flows`), with the rules, how to read a field's expression, and
//! per event its calls, fields, conditions and legitimate rejections.

use super::{Call, Flow, Flows, Template, When};

impl Flows {
    /// The flows as Markdown (`docs/flows.md`): the rules, how to read a field's
    /// expression, and per event its calls, fields, conditions and legitimate rejections.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        o.push_str("# The flows: what a middleware must do for each event\n\n");
        o.push_str(
            "Generated from [`contracts/flows.yaml`](../contracts/flows.yaml) by `andon docs flows`; \
             `cargo test` fails when this page and the file disagree. The checkers read the same file: \
             exactly-once counts the effects below, mapping compares every field of every call with \
             the value given here, and a business rejection excuses a missing effect only when the \
             call was right and its problem code is listed under *legitimate rejections*.\n",
        );
        o.push_str("\n## Rules\n\n");
        for (name, text) in &self.rules {
            o.push_str(&format!("* **{name}.** {}\n", text.trim()));
        }
        o.push_str(
            "\n## Reading a field\n\n\
             | written | means |\n|---|---|\n\
             | `$name`, `$a.b` | the field of the event's `data` |\n\
             | `$event.time`, `$event.sequence` | the CloudEvent attribute |\n\
             | `$item.name` | the field of the current element (calls made once per element) |\n\
             | `date($name)` | the UTC calendar date of that timestamp |\n\
             | `\"text\"`, `12` | this literal |\n\
             | `any` | present; its value is not judged |\n\
             | `$x: A → a, R → r` | `a` when the field is `A`, `r` when it is `R` |\n\
             | `e1 or e2` | either is right |\n\
             | a trailing `?` | optional: when sent it must be right |\n\n\
             A quantity is judged as an amount: the sent quantity converted to the base unit of the \
             material the call names must equal the expected one (so a unit the ERP can convert is \
             right; a number relabelled with another unit is not). A field the call sends that is not \
             listed is judged by the request schema only. Look-ups (`GET`) are never judged.\n",
        );
        for f in &self.flows {
            flow_md(&mut o, f);
        }
        o
    }
}

/// One flow's section: its heading and summary, its calls as a table, and each call's
/// fields.
fn flow_md(o: &mut String, f: &Flow) {
    let from: Vec<String> = f.from.iter().map(|s| s.as_str().to_uppercase()).collect();
    o.push_str(&format!(
        "\n## `{}` (from {})\n\n{}\n",
        f.event,
        from.join(", "),
        f.summary
    ));
    if let Some(ord) = &f.ordered {
        o.push_str(&format!(
            "\nOrdered {ord}: see the rule *ordered per lot*.\n"
        ));
    }
    if f.calls.is_empty() {
        return;
    }
    o.push_str("\n| call | to | effect | need | when |\n|---|---|---|---|---|\n");
    for c in &f.calls {
        o.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {} |\n",
            c.request(),
            c.to.as_str().to_uppercase(),
            c.effect,
            c.need.as_str(),
            when_md(c.when.as_ref())
        ));
    }
    for c in &f.calls {
        call_md(o, c);
    }
}

/// A call's condition in the calls table.
fn when_md(when: Option<&When>) -> String {
    match when {
        None => "always".to_string(),
        Some(When::InspectionRequired) => "the material needs inspection on receipt".to_string(),
        Some(When::Fields(fs)) => fs
            .iter()
            .map(|(p, v)| format!("`{}` is `{}`", p.join("."), v))
            .collect::<Vec<_>>()
            .join(" and "),
    }
}

/// One call's fields as a table, then its legitimate rejections and "already done" codes.
fn call_md(o: &mut String, c: &Call) {
    o.push_str(&format!(
        "\n`{}` to {}{}:\n\n| field | value |\n|---|---|\n",
        c.request(),
        c.to.as_str().to_uppercase(),
        match &c.each {
            Some(e) => format!(", once per element of `{e}`"),
            None => String::new(),
        }
    ));
    for (k, e) in &c.path {
        o.push_str(&format!("| path `{{{k}}}` | `{e}` |\n"));
    }
    fields_md(o, "", &c.body);
    o.push_str(&format!(
        "\nLegitimate rejections: {}.",
        if c.rejections.is_empty() {
            "none".to_string()
        } else {
            codes(&c.rejections)
        }
    ));
    if !c.done_on.is_empty() {
        o.push_str(&format!(
            " Already done (not a rejection): {}.",
            codes(&c.done_on)
        ));
    }
    o.push('\n');
}

/// Problem codes as code spans, comma-separated.
fn codes(codes: &[String]) -> String {
    codes
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of a body template's fields (`items[].quantity`), depth first in file order.
fn fields_md(o: &mut String, prefix: &str, t: &Template) {
    match t {
        Template::Object(fields) => {
            for (k, t) in fields {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                fields_md(o, &name, t);
            }
        }
        Template::Array(e) => fields_md(o, &format!("{prefix}[]"), e),
        Template::Expr(e) => o.push_str(&format!("| `{prefix}` | `{e}` |\n")),
    }
}
