@self-test @reconciliation
Feature: andon's reconciliation and safety checks catch wrong stock and swallowed rejections
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware and proves that the check beside it catches
  what it claims to catch. Against another SUT (`andon test --sut …`) these scenarios are
  skipped, with that reason, and never counted as passed or failed.

  Scenario: A unit-of-measure slip in the middleware shows up in the stock
    Given the reference middleware with the defect "wrong-uom"
    And plant 1000 with 3 lines making 20 materials
    When the plants run for 10s
    Then the reconciliation check fails

  Scenario: A middleware that swallows rejections loses postings silently
    Given the middleware lists its dead letters
    And the reference middleware with the defect "swallow-rejections"
    And plant 1000 with 3 lines making 20 materials
    And the ERP rejects calls to "/api/v1/material-documents" with 422 "period-closed" from 4s for 5s
    When the plants run for 14s
    Then the safety check fails
