@contracts
Feature: Every call carries what its source event implies
  The flows (docs/flows.md) say, field by field, which calls each event needs: the posting
  date, the movement type, plant, storage location, material, batch, the quantity as an
  amount in the base unit, the order. A middleware that stamps its own date or books a
  by-product as the main product gets its postings rejected — and a rejection caused by a
  wrong field is the middleware's fault, not an excuse for the missing posting.

  Scenario: A discrete and a batch plant, by-products and unit conversions included
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 2     | 10        | discrete |
      | 2000  | 2     | 8         | batch    |
    And a steady load of 40 steps per second
    When the plants run for 12s
    Then every call carries what its source event implies
    And every acknowledged event has exactly one effect
    And ERP stock reconciles with the plants' activity
