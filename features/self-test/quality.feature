@self-test @quality
Feature: andon catches holds that never reach the warehouse, or reach it late
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware and proves that the check beside it catches
  what it claims to catch. Against another SUT (`andon test --sut …`) these scenarios are
  skipped, with that reason, and never counted as passed or failed.

  Scenario: A middleware that never tells the warehouse about holds is caught
    Given the reference middleware with the defect "no-hold-to-wms"
    And plant 1000 with 3 lines making 20 materials
    And the activity mix is ERP 10 %, MES 40 %, QMS 25 %, WMS 25 %
    And the QMS puts 40 % of its steps on hold
    When the plants run for 12s
    Then the exactly-once check fails

  @slow
  Scenario: Holds that sit in a slow batch queue break the latency budget
    Given the reference middleware with the defect "late-hold"
    And plant 1000 with 3 lines making 20 materials
    And the activity mix is ERP 10 %, MES 40 %, QMS 25 %, WMS 25 %
    And the QMS puts 40 % of its steps on hold
    And settling takes at most 8s
    When the plants run for 12s
    Then the p99 latency of "qms.hold -> wms" exceeds 5s
