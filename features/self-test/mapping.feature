@self-test @contracts
Feature: andon's mapping check catches a middleware that sends the wrong fields
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware and proves that the check beside it catches
  what it claims to catch. Against another SUT (`andon test --sut …`) these scenarios are
  skipped, with that reason, and never counted as passed or failed.

  Scenario: A middleware that stamps its own date is caught, though the ERP rejected its postings
    Given the reference middleware with the defect "own-posting-date"
    And plant 1000 with 2 lines making 10 materials
    When the plants run for 10s
    Then the mapping check fails
    And the mapping check counts at least 1 wrong_calls
    And the exactly-once check fails
    And the exactly-once check counts at least 1 rejected_not_excused

  Scenario: A middleware that books by-products as the main product is caught
    Given the reference middleware with the defect "by-product-as-receipt"
    And plant 2000 with 2 lines making 8 materials in batch mode
    When the plants run for 12s
    Then the mapping check fails
    And the exactly-once check fails
