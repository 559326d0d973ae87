@load
Feature: Plant bursts stay within the latency budgets
  Performance engineers replay the busiest minutes of a shift: bursts at shift change,
  a source that suddenly emits several times its rate, poison messages in the stream.

  @slow
  Scenario: A shift-change burst across three plants keeps to the budgets
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 3     | 20        | discrete |
      | 2000  | 2     | 8         | batch    |
      | 3000  | 4     | 25        | discrete |
    And the load phases:
      | at  | rate  | for | shape |
      | 0s  | 40/s  |     |       |
      | 5s  | 160/s | 5s  | ramp  |
      | 10s | 60/s  |     |       |
    When the plants run for 20s
    Then propagation latency stays within:
      | route                | phase  | p50 | p99 |
      | mes.consumed -> erp  |        | 2s  | 10s |
      | mes.produced -> wms  |        |     | 10s |
      | mes.confirmed -> erp | steady |     | 5s  |
    And every acknowledged event has exactly one effect
    And the load thresholds hold:
      | threshold                         |
      | p99 < 10s on mes.consumed -> erp  |
      | ingress p99 < 1s                  |
      | error rate < 0.1 %                |
      | throughput >= 20/s                |

  Scenario: The MES suddenly emits four times its load
    Given plant 1000 with 3 lines making 20 materials
    And the MES emits 4 times its load from 4s for 4s
    When the plants run for 14s
    Then no acknowledged event is lost
    And every backlog drains within 30s after its fault heals

  Scenario: Poison messages among valid ones do not stop the line
    Given plant 1000 with 3 lines making 20 materials
    And the MES mixes in poison messages from 2s for 10s on 5 % of events
    When the plants run for 14s
    Then every acknowledged event has exactly one effect
    And every error the middleware answers is problem+json
    And ERP stock reconciles with the plants' activity
