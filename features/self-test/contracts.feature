@self-test @contracts
Feature: andon's contract check catches a middleware that breaks the contract
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware and proves that the check beside it catches
  what it claims to catch. Against another SUT (`andon test --sut …`) these scenarios are
  skipped, with that reason, and never counted as passed or failed.

  Scenario Outline: A middleware that <breaks> is caught by the contract check
    Given the reference middleware with the defect "<defect>"
    And plant 1000 with 2 lines making 10 materials
    When the plants run for 10s
    Then the contract check fails
    And the contract check counts at least 1 <count>

    Examples:
      | breaks                              | defect             | count                   |
      | never sends an Idempotency-Key      | no-idempotency-key | missing_idempotency_key |
      | does not propagate the traceparent  | no-traceparent     | missing_traceparent     |
