//! kill -9 of the middleware process: nothing acknowledged is lost, nothing is doubled.

use crate::scenarios::{kill_during_delivery, kill_right_after_ack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_during_delivery_loses_and_doubles_nothing() {
    let after = kill_during_delivery(&[]).await;
    assert!(after.pending_at_kill > 0);
    assert_eq!(after.lost, Vec::<String>::new(), "lost after the restart");
    assert_eq!(
        after.doubled,
        Vec::<String>::new(),
        "doubled after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_event_survives_a_kill_right_after_the_ack() {
    assert_eq!(kill_right_after_ack(&[]).await, 20);
}
