@quality
Feature: Quality holds, usage decisions and nonconformances reach every system in time
  When QMS puts a lot on hold, the warehouse must stop picking it and the line must
  stop consuming it — within a minute at most. A usage decision moves the stock out
  of quality inspection in the ERP and releases or blocks the lot everywhere.

  @smoke
  Scenario: A quality hold reaches the warehouse before the lot is picked
    Given plant 1000 with 3 lines making 20 materials
    And the activity mix is ERP 10 %, MES 40 %, QMS 25 %, WMS 25 %
    And the QMS puts 40 % of its steps on hold
    And the WMS ships on 95 % of its steps
    And held lots may take up to 10s to reach WMS and MES
    When the plants run for 12s
    Then no held or blocked lot is consumed or shipped
    And the p99 latency of "qms.hold -> wms" is at most 5s

  Scenario: Usage decisions move stock out of quality inspection
    Given plant 1000 with 3 lines making 20 materials
    And the activity mix is ERP 10 %, MES 40 %, QMS 30 %, WMS 20 %
    And the QMS accepts 50 % of inspection lots
    When the plants run for 14s
    Then ERP stock reconciles with the plants' activity
    And lot status agrees across ERP, MES, QMS and WMS

  Scenario: Holds and releases that arrive out of order do not undo each other
    Given the plants:
      | plant | lines | materials | profile  |
      | 1000  | 3     | 20        | discrete |
      | 2000  | 2     | 8         | batch    |
    And the activity mix is ERP 10 %, MES 40 %, QMS 30 %, WMS 20 %
    And the QMS puts 30 % of its steps on hold
    And the QMS sends events twice from 3s for 10s on 10 % of events
    And the QMS reorders events in windows of 3 from 3s for 12s
    And the QMS is cut off from the middleware from 5s for 6s
    When the plants run for 18s
    Then no lot status is overwritten by a stale event
    And lot status agrees across ERP, MES, QMS and WMS

  Scenario: A rejected lot is blocked and never shipped
    Given plant 1000 with 2 lines making 10 materials
    And the activity mix is ERP 10 %, MES 40 %, QMS 30 %, WMS 20 %
    And the QMS accepts 30 % of inspection lots
    And held lots may take up to 10s to reach WMS and MES
    When the plants run for 14s
    Then no held or blocked lot is consumed or shipped
    And ERP stock reconciles with the plants' activity
