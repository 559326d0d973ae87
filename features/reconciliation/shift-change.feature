@reconciliation
Feature: Several plants through a shift change reconcile
  At shift change every line closes its orders at once. Across plants with different
  profiles, ERP stock must still match what was produced, consumed, moved and shipped.

  Scenario: Three plants through a shift-change burst
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 3     | 20        | discrete |
      | 2000  | 2     | 8         | batch    |
      | 3000  | 4     | 25        | discrete |
    And a steady load of 40 steps per second
    And a shift-change burst of 150 steps per second at 6s for 5s
    When the plants run for 16s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And lot status agrees across ERP, MES, QMS and WMS

  Scenario: A posting period closes mid-shift and rejected postings are dead-lettered
    Given the middleware lists its dead letters
    And plant 1000 with 3 lines making 20 materials
    And the ERP has only the posting periods 2026/11 and 2026/10 open
    And the ERP rejects calls to "/api/v1/material-documents" with 422 "period-closed" from 4s for 5s
    When the plants run for 14s
    Then no posting into a closed period is silently dropped
    And at least 1 event is dead-lettered
