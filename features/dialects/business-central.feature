@dialects
Feature: Plants whose ERP speaks Dynamics 365 Business Central
  A plant's ERP can speak Business Central's API v2.0 (OData v4, under the plant's own base
  URL `{erp.<plant>.url}`): webhook subscriptions with a validation handshake that expire
  after three days of business time unless renewed, notifications that name only the changed
  entity (the middleware reads it back), no idempotency key at all (a middleware deduplicates
  by a natural key and reads back after an ambiguous answer), Business Central's error body
  and request limits. The business core, and so every check, is the same whatever the
  dialect. A middleware that does not declare `dialects = ["business-central"]` in its
  manifest's capabilities skips these scenarios.

  Background:
    Given the middleware speaks Business Central

  Scenario: A mixed plant set: plant 1000 on andon's API, the acquired plant 2000 on Business Central
    Given plant 1000 with 1 line making 5 materials
    And plant 2000 with 1 line making 5 materials
    And the ERP of plant 2000 speaks Business Central release 25
    And a steady load of 20 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And every call the middleware makes honours the contract

  Scenario: A vendor upgrade mid-rollout: plant 1000 cut over from Business Central 24 to 25, plant 2000 already on 25
    Given plant 1000 with 1 line making 5 materials
    And plant 2000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 24
    And the ERP of plant 2000 speaks Business Central release 25
    And the ERP of plant 1000 is upgraded to Business Central release 25 at 5s
    And a steady load of 20 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity

  Scenario: Subscriptions outlive three days of business time because the middleware renews them
    Given plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 25
    And business time runs 40000 times faster
    And a steady load of 20 steps per second
    When the plants run for 16s
    Then every call the middleware makes honours the contract
    And every acknowledged event has exactly one effect

  Scenario: The cloud ERP commits postings but loses the answers: the middleware reads back by document number
    Given plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 25
    And a steady load of 20 steps per second
    And the ERP commits but loses the answer from 3s for 10s on 30 % of calls
    When the plants run for 12s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity

  Scenario: A slow cloud ERP refuses some inserts during a burst: each refused one is dead-lettered, none is posted twice
    # Business Central has no transaction across requests: an insert refused does not undo
    # the others, whether sent alone or in a `$batch` (each operation stands alone), so the
    # ones posted beside it must not be sent again.
    Given plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks Business Central release 25
    And a steady load of 20 steps per second
    And a shift-change burst of 200 steps per second at 2s for 4s
    And the ERP answers slowly (median 150ms) from 2s for 5s
    And the ERP rejects calls to "/plant/1000/api/andon/" with 422 "period-closed" from 2s for 5s on 30 % of calls
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And every rejected posting is dead-lettered
    And ERP stock reconciles with the plants' activity
