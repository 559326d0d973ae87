@self-test @onboarding
Feature: andon catches a middleware whose token covers one plant only
  A self-test of andon, not a contract for a middleware: the scenario switches on a named
  defect of the bundled reference middleware and proves that the checks beside it catch it.
  Against another SUT (`andon test --sut …`) it is skipped, with that reason, and never
  counted as passed or failed.

  Scenario: A token requested for the first plant only is refused for the second
    Given the reference middleware with the defect "single-plant-token"
    And every system requires OAuth tokens
    And the plants:
      | plant | lines | materials | profile  |
      | 1000  | 2     | 10        | discrete |
      | 2000  | 2     | 8         | batch    |
    When the plants run for 10s
    Then the contract check counts at least 1 plant_scope_refused
    And the exactly-once check fails
