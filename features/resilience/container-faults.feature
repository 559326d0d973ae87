@resilience @containers
Feature: Outages made by the container engine
  With `--runtime containers` these faults are the engine's own: a paused container whose
  connections hang, a stopped one that refuses and comes back with its books, a plant cut
  off the network. In-process they are played by the simulators' stand-ins (a hang,
  refused connections, a hang with a partition), so the feature reads the same in both.

  Scenario Outline: The <system> container <fault> and nothing is lost
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 2     | 10        | discrete |
    And a steady load of 40 steps per second
    And the <system> container <fault> from 3s for 4s
    When the plants run for 10s
    Then no acknowledged event is lost
    And every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity

    Examples:
      | system | fault                                   |
      | ERP    | is paused                               |
      | ERP    | is stopped                              |
      | MES    | is disconnected from the plant network  |
