@self-test @idempotency
Feature: andon's exactly-once check catches a middleware that double-posts
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware and proves that the check beside it catches
  what it claims to catch. Against another SUT (`andon test --sut …`) these scenarios are
  skipped, with that reason, and never counted as passed or failed.

  Scenario Outline: A middleware that <breaks> double-posts
    Given the reference middleware with the defect "<defect>"
    And plant 1000 with 3 lines making 20 materials
    And <fault>
    When the plants run for 16s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 duplicated

    Examples:
      | breaks                               | defect             | fault                                                                  |
      | processes redeliveries again         | no-dedup           | the MES sends events twice from 2s for 10s on 30 % of events           |
      | retries without an Idempotency-Key   | no-idempotency-key | the ERP commits but loses the answer from 3s for 10s on 30 % of calls  |
