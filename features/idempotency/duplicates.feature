@idempotency
Feature: Redelivered and ambiguous messages post exactly once
  Plants deliver at least once and networks lose answers. Whatever arrives twice or
  times out after the ERP committed, each business event has exactly one effect.

  @smoke
  Scenario: Events the MES sends twice are posted once
    Given plant 1000 with 2 lines making 10 materials
    And the MES sends events twice from 2s for 8s on 30 % of events
    When the plants run for 12s
    Then no business effect is posted twice
    And every acknowledged event has exactly one effect

  Scenario: An answer lost after the ERP committed is not posted again
    Given plant 1000 with 3 lines making 20 materials
    And the ERP commits but loses the answer from 3s for 10s on 20 % of calls
    When the plants run for 16s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity

  Scenario: An ERP that ignores Idempotency-Key leaves deduplication to the middleware
    Given plant 1000 with 2 lines making 10 materials
    And the ERP ignores idempotency keys
    And the MES sends events twice from 2s for 8s on 30 % of events
    When the plants run for 12s
    Then no business effect is posted twice
    And ERP stock reconciles with the plants' activity

  Scenario: A slow ERP that finishes what the middleware gave up on books each posting once
    Given plant 1000 with 3 lines making 20 materials
    And the ERP answers slowly (median 3s) from 3s for 6s
    When the plants run for 16s
    Then every acknowledged event has exactly one effect
    And no business effect is posted twice
