//! One test per AsyncAPI rule, each on a small document edited in one place.

use std::path::Path;

use crate::contract_diff::{Document, Rule, diff};

/// The application sends `released` on `orders` and receives `command` on `inbox`;
/// `misc`'s message is named by no operation.
const BASE: &str = r#"
asyncapi: 3.0.0
info: {title: plant events, version: '1'}
channels:
  orders:
    address: /events/orders
    messages:
      released: {$ref: '#/components/messages/released'}
  inbox:
    address: /events/inbox
    messages:
      command: {$ref: '#/components/messages/command'}
  misc:
    address: /events/misc
    messages:
      note:
        payload:
          type: object
          required: [text]
          properties:
            text: {type: string}
operations:
  sendOrders:
    action: send
    channel: {$ref: '#/channels/orders'}
    messages: [{$ref: '#/channels/orders/messages/released'}]
  receiveCommands:
    action: receive
    channel: {$ref: '#/channels/inbox'}
components:
  messages:
    released:
      description: An order was released.
      payload:
        type: object
        required: [order, plant]
        properties:
          order: {type: string}
          plant: {type: string}
          note: {type: string}
    command:
      payload:
        type: object
        required: [verb]
        properties:
          verb: {type: string}
          reason: {type: string}
"#;

fn edit(edits: &[(&str, &str)]) -> String {
    let mut doc = BASE.to_string();
    for (from, to) in edits {
        assert!(doc.contains(from), "no {from:?} in the document");
        doc = doc.replacen(from, to, 1);
    }
    doc
}

fn changes(old: &str, new: &str) -> Vec<(Rule, String, String)> {
    let old = Document::parse(Path::new("old.yaml"), old).expect("old");
    let new = Document::parse(Path::new("new.yaml"), new).expect("new");
    diff(&old, &new)
        .expect("diff")
        .changes()
        .iter()
        .map(|c| (c.rule, c.operation.clone(), c.pointer.clone()))
        .collect()
}

fn one(rule: Rule, op: &str, pointer: &str) -> (Rule, String, String) {
    (rule, op.to_string(), pointer.to_string())
}

const RELEASED: &str = "/messages/released/payload";
const COMMAND: &str = "/messages/command/payload";

#[test]
fn a_document_against_itself_has_no_changes() {
    assert_eq!(changes(BASE, BASE), vec![]);
    let reworded = edit(&[("An order was released.", "A production order was released.")]);
    assert_eq!(changes(BASE, &reworded), vec![]);
}

#[test]
fn a_channel_removed_is_breaking_and_one_added_compatible() {
    let new = edit(&[(
        "  misc:\n    address: /events/misc",
        "  other:\n    address: /events/misc",
    )]);
    assert_eq!(
        changes(BASE, &new),
        vec![
            one(Rule::ChannelRemoved, "channel misc", ""),
            one(Rule::ChannelAdded, "channel other", ""),
        ]
    );
    let moved = edit(&[("address: /events/orders", "address: /events/v2/orders")]);
    assert_eq!(
        changes(BASE, &moved),
        vec![one(Rule::ChannelAddressChanged, "channel orders", "")]
    );
}

#[test]
fn a_message_removed_is_breaking_and_one_added_compatible() {
    let new = edit(&[(
        "      command: {$ref: '#/components/messages/command'}",
        "      order: {$ref: '#/components/messages/command'}",
    )]);
    assert_eq!(
        changes(BASE, &new),
        vec![
            one(Rule::MessageRemoved, "channel inbox", "/messages/command"),
            one(Rule::MessageAdded, "channel inbox", "/messages/order"),
        ]
    );
}

#[test]
fn a_sent_message_losing_or_retyping_a_required_field_breaks_its_consumers() {
    let removed = edit(&[
        ("required: [order, plant]", "required: [order]"),
        ("          plant: {type: string}\n", ""),
    ]);
    assert_eq!(
        changes(BASE, &removed),
        vec![one(
            Rule::OutputFieldRemoved,
            "channel orders",
            &format!("{RELEASED}/plant")
        )]
    );
    let retyped = edit(&[("order: {type: string}", "order: {type: integer}")]);
    assert_eq!(
        changes(BASE, &retyped),
        vec![one(
            Rule::OutputTypeChanged,
            "channel orders",
            &format!("{RELEASED}/order")
        )]
    );
    let added = edit(&[(
        "          note: {type: string}",
        "          note: {type: string}\n          due: {type: string}",
    )]);
    assert_eq!(
        changes(BASE, &added),
        vec![one(
            Rule::OutputFieldAdded,
            "channel orders",
            &format!("{RELEASED}/due")
        )]
    );
}

#[test]
fn a_received_message_newly_requiring_a_field_breaks_its_producers() {
    let made = edit(&[("required: [verb]", "required: [verb, reason]")]);
    assert_eq!(
        changes(BASE, &made),
        vec![one(
            Rule::InputFieldMadeRequired,
            "channel inbox",
            &format!("{COMMAND}/reason")
        )]
    );
    let added = edit(&[
        ("required: [verb]", "required: [verb, plant]"),
        (
            "          reason: {type: string}",
            "          reason: {type: string}\n          plant: {type: string}",
        ),
    ]);
    assert_eq!(
        changes(BASE, &added),
        vec![one(
            Rule::InputFieldNewlyRequired,
            "channel inbox",
            &format!("{COMMAND}/plant")
        )]
    );
    let optional = edit(&[(
        "          reason: {type: string}",
        "          reason: {type: string}\n          plant: {type: string}",
    )]);
    assert_eq!(
        changes(BASE, &optional),
        vec![one(
            Rule::InputOptionalFieldAdded,
            "channel inbox",
            &format!("{COMMAND}/plant")
        )]
    );
    let dropped = edit(&[
        ("required: [verb]", "required: []"),
        ("          verb: {type: string}\n", ""),
    ]);
    assert_eq!(
        changes(BASE, &dropped),
        vec![one(
            Rule::InputFieldRemoved,
            "channel inbox",
            &format!("{COMMAND}/verb")
        )]
    );
}

#[test]
fn a_message_no_operation_names_is_judged_both_ways() {
    let more = edit(&[
        ("required: [text]", "required: [text, by]"),
        (
            "            text: {type: string}",
            "            text: {type: string}\n            by: {type: string}",
        ),
    ]);
    assert_eq!(
        changes(BASE, &more),
        vec![one(
            Rule::InputFieldNewlyRequired,
            "channel misc",
            "/messages/note/payload/by"
        )]
    );
    assert_eq!(
        changes(&more, BASE),
        vec![one(
            Rule::OutputFieldRemoved,
            "channel misc",
            "/messages/note/payload/by"
        )]
    );
}

#[test]
fn an_operation_removed_or_its_action_changed_is_breaking() {
    let renamed = edit(&[("  sendOrders:", "  publishOrders:")]);
    assert_eq!(
        changes(BASE, &renamed),
        vec![
            one(Rule::OperationRemoved, "operation sendOrders", ""),
            one(Rule::OperationAdded, "operation publishOrders", ""),
        ]
    );
    let flipped = edit(&[("    action: receive", "    action: send")]);
    let d = changes(BASE, &flipped);
    assert!(
        d.contains(&one(
            Rule::OperationChanged,
            "operation receiveCommands",
            ""
        )),
        "{d:?}"
    );
}

#[test]
fn a_payload_in_another_format_is_compared_whole() {
    let avro = |field: &str| {
        BASE.replacen(
            "      payload:\n        type: object\n        required: [verb]",
            &format!("      payload:\n        schemaFormat: application/vnd.apache.avro;version=1.9.0\n        schema: {{type: record, name: C, fields: [{{name: {field}, type: string}}]}}\n      x-was:\n        required: [verb]"),
            1,
        )
    };
    assert_eq!(changes(&avro("verb"), &avro("verb")), vec![]);
    assert_eq!(
        changes(&avro("verb"), &avro("action")),
        vec![one(Rule::PayloadFormatChanged, "channel inbox", COMMAND)]
    );
}
