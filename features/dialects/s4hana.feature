@dialects
Feature: Plants whose ERP speaks SAP S/4HANA
  Real middleware is wired to the vendor's API, not andon's. A plant's ERP can speak
  S/4HANA's OData V2 services (under the plant's own base URL, `{erp.<plant>.url}`): CSRF
  tokens, repeatable requests (`RequestID`), SAP business events read back through the API,
  SAP error bodies. The business core, and so every check, is the same whatever the dialect.
  A middleware that does not declare `dialects = ["s4hana"]` in its manifest's capabilities
  skips these scenarios.

  Background:
    Given the middleware speaks S/4HANA

  Scenario: A vendor upgrade mid-rollout: plant 1000 still on S/4HANA 2408, plant 2000 on 2502
    Given plant 1000 with 1 line making 5 materials
    And plant 2000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks S/4HANA release 2408
    And the ERP of plant 2000 speaks S/4HANA release 2502
    And a steady load of 20 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
    And lot status agrees across ERP, MES, QMS and WMS

  Scenario: A mixed plant set: plant 1000 on andon's API, the acquired plant 2000 on S/4HANA
    Given plant 1000 with 1 line making 5 materials
    And plant 2000 with 1 line making 5 materials
    And the ERP of plant 2000 speaks S/4HANA release 2502
    And a steady load of 20 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity

  Scenario: CSRF tokens expire mid-run and the middleware fetches new ones
    Given plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks S/4HANA release 2502
    And a steady load of 20 steps per second
    And the ERP expires CSRF tokens from 3s for 4s
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity

  Scenario: The cloud ERP of plant 1000 is cut over from S/4HANA 2408 to 2502 with events in flight
    Given plant 1000 with 1 line making 5 materials
    And the ERP of plant 1000 speaks S/4HANA release 2408
    And the ERP of plant 1000 is upgraded to S/4HANA release 2502 at 5s
    And a steady load of 20 steps per second
    When the plants run for 10s
    Then every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
