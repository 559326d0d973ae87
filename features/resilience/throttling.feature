@resilience
Feature: A throttled cloud ERP is not hammered
  Cloud ERPs limit API calls (Business Central allows a few thousand per five minutes
  per user). Above the limit they answer 429 with Retry-After; a middleware must slow
  down and still deliver everything.

  Scenario: Postings above the ERP's API limit wait and arrive
    Given the plants:
      | plant | lines | materials |
      | 1000  | 3     | 20        |
      | 2000  | 2     | 8         |
    And the load phases:
      | at  | rate  | for |
      | 0s  | 20/s  |     |
      | 8s  | 100/s | 4s  |
    And the ERP allows only 100 calls per 5s from 0s
    When the plants run for 20s
    Then no acknowledged event is lost
    And the middleware waits out every Retry-After
    And the p99 latency of "mes.consumed -> erp" is at most 15s during faults
