@onboarding
Feature: A new plant is onboarded against simulated systems
  Before a plant goes live, its adapter and the middleware run against simulated ERP,
  MES, QMS and WMS seeded with the plant's own master data.

  @smoke
  Scenario: A batch plant with its own profile reconciles from the first shift
    Given plant 3000 with 1 line making 6 materials in batch mode
    And a steady load of 30 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And every call the middleware makes honours the contract

  Scenario: The plant's master data comes from its own file
    Given the master data from "plant-4000.yaml"
    And a steady load of 30 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And lot status agrees across ERP, MES, QMS and WMS

  Scenario: Every simulator requires OAuth tokens for every plant, as in production
    Given every system requires OAuth tokens
    And the plants:
      | plant | lines | materials | profile  |
      | 1000  | 2     | 10        | discrete |
      | 2000  | 2     | 8         | batch    |
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And no call is refused for another plant's scope
    And every call carries an idempotency key
