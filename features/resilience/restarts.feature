@resilience
Feature: The middleware survives its own crashes and restarts
  Middleware gets redeployed, OOM-killed and paused by the scheduler. A durable outbox
  means nothing acknowledged is lost and nothing is posted twice after it comes back.

  Scenario: Killed with SIGKILL in the middle of a burst while the ERP is down
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 3     | 20        | discrete |
      | 2000  | 2     | 8         | batch    |
    And a steady load of 50 steps per second
    And a shift-change burst of 200 steps per second at 6s for 5s
    And the ERP is unavailable from 6s for 6s with Retry-After 2s
    And the middleware is killed at 9s
    When the plants run for 18s
    Then no acknowledged event is lost
    And no business effect is posted twice
    And ERP stock reconciles with the plants' activity

  Scenario: A rolling restart (SIGTERM, then start again)
    Given plant 1000 with 3 lines making 20 materials
    And the middleware is restarted at 6s
    When the plants run for 14s
    Then every acknowledged event has exactly one effect

  Scenario: Frozen by the scheduler for three seconds
    Given plant 1000 with 2 lines making 10 materials
    And the middleware is frozen at 5s for 3s
    When the plants run for 14s
    Then every acknowledged event has exactly one effect
    And the p99 latency of "mes.consumed -> erp" is at most 10s

  Scenario: Tokens that expire early are renewed
    Given every system requires OAuth tokens
    And plant 1000 with 2 lines making 10 materials
    And the ERP expires tokens early from 3s for 6s
    When the plants run for 14s
    Then every acknowledged event has exactly one effect
    And every call the middleware makes honours the contract

  Scenario: A plant cut off from the middleware floods it on heal
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 3     | 20        | discrete |
      | 2000  | 2     | 8         | batch    |
    And a steady load of 60 steps per second
    And the MES of plant 2000 is cut off from the middleware from 3s for 8s
    When the plants run for 16s
    Then every acknowledged event has exactly one effect
    And every backlog drains within 30s after its fault heals
    And ERP stock reconciles with the plants' activity
