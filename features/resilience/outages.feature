@resilience
Feature: Cloud ERP downtime loses nothing
  A cloud ERP goes into maintenance, refuses connections or hangs. The middleware must
  hold what the plants sent, retry with care, and catch up once the ERP is back.

  Scenario Outline: The ERP <outage> for a while and nothing is lost
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 3     | 20        | discrete |
      | 2000  | 2     | 8         | batch    |
    And a steady load of 50 steps per second
    And the ERP <outage> from 4s for 6s
    When the plants run for 16s
    Then no acknowledged event is lost
    And every acknowledged event has exactly one effect
    And every backlog drains within 30s after its fault heals
    And ERP stock reconciles with the plants' activity

    Examples:
      | outage                                |
      | is unavailable                        |
      | is unavailable with Retry-After 2s    |
      | refuses connections                   |
      | hangs                                 |

  Scenario: Maintenance windows announced with Retry-After are waited out
    Given plant 1000 with 3 lines making 20 materials
    And the ERP is unavailable from 3s for 8s with Retry-After 3s
    When the plants run for 15s
    Then the middleware waits out every Retry-After
    And no acknowledged event is lost
