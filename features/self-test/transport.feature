@self-test @transport
Feature: andon's checks catch a middleware that consumes from an MQTT broker wrongly
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware's MQTT consumer, has every plant publish to the
  run's broker, injects what exposes the defect, and proves that the check beside it
  catches it. Against another SUT (`andon test --sut …`) these scenarios are skipped, with
  that reason, and never counted as passed or failed.

  Scenario: A middleware that connects with a clean session loses what was published while it was down
    Given the reference middleware with the defect "clean-session"
    And the middleware consumes from an MQTT broker
    And plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 40 steps per second
    And a shift-change burst of 300 steps per second at 3s for 4s
    And the middleware is killed at 5s and down for 2s
    When the plants run for 10s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 lost

  Scenario: A middleware that subscribes at QoS 0 loses what was published while it was down
    Given the reference middleware with the defect "qos0-subscribe"
    And the middleware consumes from an MQTT broker
    And plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 40 steps per second
    And a shift-change burst of 300 steps per second at 3s for 4s
    And the middleware is killed at 5s and down for 2s
    When the plants run for 10s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 lost

  Scenario: A middleware that acknowledges a message before storing it loses what it held when killed
    Given the reference middleware with the defect "ack-before-store"
    And the middleware consumes from an MQTT broker
    And plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 40 steps per second
    And a shift-change burst of 150 steps per second at 3s for 4s
    And the middleware is killed at 5s
    When the plants run for 10s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 lost

  Scenario: A middleware that acts on retained messages posts an event the run never emitted
    Given the reference middleware with the defect "trust-retained"
    And the middleware consumes from an MQTT broker
    And plant 1000 with 1 line making 5 materials
    And every plant publishes its events to the MQTT broker
    And the broker holds 2 stale retained events from an earlier run
    And a steady load of 20 steps per second
    When the plants run for 8s
    Then the contract check fails
    And the contract check counts at least 1 unknown_sources

  @containers
  Scenario: A middleware that connects with a clean session loses what was published while a partition cut it off
    Given the reference middleware with the defect "clean-session"
    And the middleware consumes from an MQTT broker
    And the middleware runs in a container beside the broker
    And plant 1000 with 2 lines making 10 materials
    And every plant publishes its events to the MQTT broker
    And a steady load of 30 steps per second
    And the broker and the middleware are cut off from each other at 3s for 12s
    When the plants run for 18s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 lost
