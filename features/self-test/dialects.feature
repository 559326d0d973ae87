@self-test @dialects
Feature: andon's checks catch a middleware that mishandles a vendor ERP (S/4HANA, Business Central)
  A self-test of andon, not a contract for a middleware: each scenario switches on a named
  defect of the bundled reference middleware, puts plant 1000's ERP on a vendor's API, injects
  the fault that exposes the defect, and proves that the check beside it catches it. Against
  another SUT (`andon test --sut …`) these scenarios are skipped, with that reason, and never
  counted as passed or failed.

  Scenario: A middleware that never fetches a new CSRF token loses the postings refused 403
    Given the reference middleware with the defect "csrf-no-refresh"
    And plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks S/4HANA release 2502
    And a steady load of 20 steps per second
    And the ERP expires CSRF tokens from 3s for 4s
    When the plants run for 10s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 lost

  Scenario: A middleware that posts without a repeatable request books a lost answer twice
    Given the reference middleware with the defect "no-repeatability"
    And plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks S/4HANA release 2502
    And a steady load of 20 steps per second
    And the ERP commits but loses the answer from 3s for 10s on 30 % of calls
    When the plants run for 12s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 duplicated
    And the contract check fails
    And the contract check counts at least 1 missing_idempotency_key

  Scenario: A middleware blind to a vendor upgrade loses every posting after the cut-over
    Given the reference middleware with the defect "release-blind"
    And plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks S/4HANA release 2408
    And the ERP of plant 1000 is upgraded to S/4HANA release 2502 at 4s
    And a steady load of 20 steps per second
    # No quality holds: a consumption of a lot just put on hold is refused by S/4HANA with
    # 400 M7/021 (stock deficit), which the exactly-once check does not excuse as it does
    # andon's 422, so it would count against the correct middleware too.
    And the QMS puts 0 % of its steps on hold
    When the plants run for 10s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 lost

  Scenario: A middleware that posts again after a lost answer, without reading back, posts twice in Business Central
    Given the reference middleware with the defect "bc-no-readback"
    And plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 25
    And a steady load of 20 steps per second
    And the ERP commits but loses the answer from 3s for 10s on 30 % of calls
    When the plants run for 12s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 duplicated

  Scenario: A middleware that never renews its Business Central subscriptions stops hearing of new orders
    Given the reference middleware with the defect "no-subscription-renewal"
    And plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 25
    And business time runs 40000 times faster
    And a steady load of 20 steps per second
    When the plants run for 16s
    Then the contract check fails
    And the contract check counts at least 1 subscription_lapsed

  Scenario: A middleware that renews its Business Central subscriptions with a stale ETag is refused 412 and lets them lapse
    Given the reference middleware with the defect "ignore-etag"
    And plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 25
    And business time runs 40000 times faster
    And a steady load of 20 steps per second
    # A subscription lives three business days (6.5 s here), renewed at half its life: the
    # first renewal still holds the ETag of the creation, the second does not.
    When the plants run for 12s
    Then the contract check fails
    And the contract check counts at least 1 stale_etag_resent

  Scenario: A middleware that sends a whole $batch again after one operation failed posts the others twice
    Given the reference middleware with the defect "batch-partial-retry"
    And plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 25
    And a steady load of 20 steps per second
    And a shift-change burst of 200 steps per second at 2s for 4s
    And the ERP answers slowly (median 150ms) from 2s for 5s
    And the ERP rejects calls to "/plant/1000/api/andon/" with 422 "period-closed" from 2s for 5s on 30 % of calls
    When the plants run for 10s
    Then the exactly-once check fails
    And the exactly-once check counts at least 1 duplicated
