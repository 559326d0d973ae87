@reconciliation
Feature: A plant on an ordinary shift reconciles
  With nothing going wrong, every event a plant sends lands exactly once, ERP stock
  matches what the lines really did, and every system agrees on lot status.

  @smoke
  Scenario: One discrete plant, no faults
    Given plant 1000 with 2 lines making 10 materials
    And a steady load of 40 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And lot status agrees across ERP, MES, QMS and WMS
    And the p99 latency of "mes.consumed -> erp" is at most 5s
