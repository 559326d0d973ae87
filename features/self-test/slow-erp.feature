@self-test @idempotency
Feature: andon catches a middleware that re-posts under a new key after giving up
  A self-test of andon, not a contract for a middleware: the scenario switches on a named
  defect of the bundled reference middleware and proves that the check beside it catches it.
  Against another SUT (`andon test --sut …`) it is skipped, with that reason, and never
  counted as passed or failed.

  Scenario: A short timeout and a fresh key book a slow ERP's postings twice
    Given the reference middleware with the defect "short-timeout-new-key"
    And plant 1000 with 3 lines making 20 materials
    And the ERP answers slowly (median 3s) from 3s for 6s
    When the plants run for 16s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 duplicated
