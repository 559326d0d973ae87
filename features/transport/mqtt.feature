@transport
Feature: Plants that publish their events to an MQTT broker
  Many plants do not call their middleware over HTTP: the MES and the shop floor publish to
  a message broker, and the middleware subscribes. Here a plant's system publishes each
  event to a Mosquitto that andon starts for the run, at QoS 1, in the CloudEvents MQTT
  binding (MQTT 5, binary mode: the attributes in user properties, `data` as the payload),
  under the topic layout the SUT's manifest gives (default `andon/{plant}/{system}/{kind}`).
  An event is acknowledged when the broker's PUBACK says it took it; from then on the
  middleware owns it, and every check judges it exactly as a webhook's 2xx. A middleware
  that declares no broker subscription in its manifest's `[ingress]` skips these scenarios,
  as does a machine without Mosquitto. With `--runtime containers` the broker is a
  container of the run too, and the partition between it and the middleware is real.

  Background:
    Given the middleware consumes from an MQTT broker

  Scenario: Two MES products: plant 1000's MES posts webhooks, the acquired plant 2000's publishes to the broker
    Given plant 1000 with 1 line making 5 materials
    And plant 2000 with 1 line making 5 materials
    And the MES of plant 2000 publishes to the MQTT broker
    And a steady load of 20 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And every call the middleware makes honours the contract

  Scenario: Every plant publishes to the broker through a shift-change burst
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 2     | 10        | discrete |
      | 2000  | 1     | 8         | batch    |
    And every plant publishes its events to the MQTT broker
    And a steady load of 30 steps per second
    And a shift-change burst of 150 steps per second at 4s for 4s
    When the plants run for 12s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And lot status agrees across ERP, MES, QMS and WMS

  Scenario: Killed in the middle of a burst and down for 3 s: the persistent session keeps what was published meanwhile
    Given plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 40 steps per second
    And a shift-change burst of 150 steps per second at 4s for 4s
    And the middleware is killed at 6s and down for 3s
    When the plants run for 14s
    Then no acknowledged event is lost
    And no business effect is posted twice
    And ERP stock reconciles with the plants' activity

  Scenario: The broker restarts in the middle of a burst: the persistent session and the plants' outboxes lose nothing
    Given plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 40 steps per second
    And a shift-change burst of 150 steps per second at 4s for 4s
    And the broker is restarted at 5s
    And the broker is down at 9s for 2s
    When the plants run for 14s
    Then no acknowledged event is lost
    And no business effect is posted twice
    And ERP stock reconciles with the plants' activity

  Scenario: A stale retained event from an earlier run is left alone
    Given plant 1000 with 1 line making 5 materials
    And every plant publishes its events to the MQTT broker
    And the broker holds 2 stale retained events from an earlier run
    And a steady load of 20 steps per second
    When the plants run for 8s
    Then every call the middleware makes honours the contract
    And ERP stock reconciles with the plants' activity

  Scenario: Two instances behind one shared subscription, the first killed mid-burst
    Given plant 1000 with 1 line making 5 materials
    And plant 2000 with 1 line making 5 materials
    And the MES of plant 2000 publishes to the MQTT broker
    And the QMS of plant 2000 publishes to the MQTT broker
    And the middleware runs as 2 instances
    And a steady load of 30 steps per second
    And a shift-change burst of 150 steps per second at 3s for 4s
    And the middleware is killed at 5s
    When the plants run for 12s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And lot status agrees across ERP, MES, QMS and WMS

  Scenario: A slow consumer through a burst: the broker queues what the middleware has not taken yet
    Given plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 30 steps per second
    And a shift-change burst of 120 steps per second at 3s for 3s
    And the middleware is slow at 2s for 6s
    When the plants run for 10s
    Then no acknowledged event is lost
    And no business effect is posted twice
    And the broker drops no message

  Scenario: The broker's queue bound is sized for the middleware's downtime: nothing is dropped, nothing lost
    Given plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And the broker queues at most 1000 messages per client
    And a steady load of 40 steps per second
    And the middleware is killed at 3s and down for 4s
    When the plants run for 10s
    Then the broker drops no message
    And no acknowledged event is lost
    And no business effect is posted twice

  @containers
  Scenario: The network between the broker and the middleware is cut for 12 s: the persistent session keeps what the plants published
    Given the middleware runs in a container beside the broker
    And plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 30 steps per second
    And the broker and the middleware are cut off from each other at 3s for 12s
    When the plants run for 18s
    Then no acknowledged event is lost
    And no business effect is posted twice
    And ERP stock reconciles with the plants' activity
