@self-test @resilience
Feature: andon catches a middleware that gives up, hammers, or forgets when things go wrong
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware and proves that the check beside it catches
  what it claims to catch. Against another SUT (`andon test --sut …`) these scenarios are
  skipped, with that reason, and never counted as passed or failed.

  Scenario Outline: A middleware that <breaks> is caught when the ERP pushes back
    Given the reference middleware with the defect "<defect>"
    And plant 1000 with 3 lines making 20 materials
    And <fault>
    And settling takes at most 8s
    When the plants run for 14s
    Then the <check> check fails

    Examples:
      | breaks                      | defect             | fault                                                         | check        |
      | gives up after one 5xx      | drop-on-5xx        | the ERP is unavailable from 3s for 6s with Retry-After 2s     | exactly-once |
      | retries at once on a 429    | ignore-retry-after | the ERP allows only 50 calls per 5s from 0s                   | contract     |

  @slow
  Scenario: An in-memory outbox loses what it held when killed
    Given the reference middleware with the defect "memory-outbox"
    And the plants:
      | plant | lines | materials | profile  |
      | 1000  | 3     | 20        | discrete |
      | 2000  | 2     | 8         | batch    |
    And a steady load of 50 steps per second
    And a shift-change burst of 250 steps per second at 8s for 8s
    And the ERP is unavailable from 8s for 8s with Retry-After 2s
    And the middleware is killed at 12s
    When the plants run for 25s
    Then the exactly-once check counts at least 1 lost
