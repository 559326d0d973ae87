@contracts
Feature: Every call the middleware makes honours the integration contract
  The simulators validate each request against the contract (JSON Schema, OpenAPI) and
  record its headers. A middleware that forgets an Idempotency-Key or breaks the trace
  is caught here, before an ERP double-posts or an incident cannot be traced.

  @smoke
  Scenario: An ordinary shift keeps to the contract
    Given plant 1000 with 2 lines making 10 materials
    And a steady load of 40 steps per second
    When the plants run for 10s
    Then every call the middleware makes honours the contract
    And every call carries an idempotency key
    And every call carries a valid traceparent
    And every call carries what its source event implies

  Scenario: Errors the middleware answers to the plants are problem+json
    Given plant 1000 with 2 lines making 10 materials
    And the MES mixes in poison messages from 2s for 10s on 10 % of events
    When the plants run for 15s
    Then every error the middleware answers is problem+json
    And every acknowledged event has exactly one effect
