//! The movement types the ERP knows (SAP's codes): what each means, where it takes stock
//! from and puts it to, whether it needs an order, and which type reverses it. The table is
//! data.

use andon_contracts::objects::StockType;

/// Where a movement type takes stock from and puts it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Into the receipt stock type (quality inspection when the material needs inspection).
    Receipt,
    /// Out of the receipt stock type (reversal of a receipt).
    ReceiptReversal,
    /// Out of this stock type.
    Out(StockType),
    /// Into this stock type.
    In(StockType),
    /// From one stock type to another.
    Transfer(StockType, StockType),
    /// Out here, into the receiving plant (unrestricted).
    PlantToPlant,
    /// Back from the receiving plant.
    PlantToPlantReversal,
}

use StockType::{Blocked as B, QualityInspection as QI, Unrestricted as U};

/// The movement types the ERP knows: code, meaning, flow, whether it needs an order, and
/// the partner type that reverses it.
pub const MOVEMENT_TYPES: &[(&str, &str, Flow, bool, &str)] = &[
    (
        "101",
        "goods receipt for production order",
        Flow::Receipt,
        true,
        "102",
    ),
    (
        "102",
        "reversal of goods receipt for production order",
        Flow::ReceiptReversal,
        true,
        "101",
    ),
    (
        "261",
        "goods issue to production order",
        Flow::Out(U),
        true,
        "262",
    ),
    (
        "262",
        "reversal of goods issue to production order",
        Flow::In(U),
        true,
        "261",
    ),
    ("531", "by-product receipt", Flow::Receipt, true, "532"),
    (
        "532",
        "reversal of by-product receipt",
        Flow::ReceiptReversal,
        true,
        "531",
    ),
    (
        "321",
        "quality inspection to unrestricted",
        Flow::Transfer(QI, U),
        false,
        "322",
    ),
    (
        "322",
        "unrestricted to quality inspection",
        Flow::Transfer(U, QI),
        false,
        "321",
    ),
    (
        "349",
        "blocked to quality inspection",
        Flow::Transfer(B, QI),
        false,
        "350",
    ),
    (
        "350",
        "quality inspection to blocked",
        Flow::Transfer(QI, B),
        false,
        "349",
    ),
    (
        "343",
        "blocked to unrestricted",
        Flow::Transfer(B, U),
        false,
        "344",
    ),
    (
        "344",
        "unrestricted to blocked",
        Flow::Transfer(U, B),
        false,
        "343",
    ),
    (
        "551",
        "scrapping from unrestricted",
        Flow::Out(U),
        false,
        "552",
    ),
    (
        "552",
        "reversal of scrapping from unrestricted",
        Flow::In(U),
        false,
        "551",
    ),
    (
        "553",
        "scrapping from quality inspection",
        Flow::Out(QI),
        false,
        "554",
    ),
    (
        "554",
        "reversal of scrapping from quality inspection",
        Flow::In(QI),
        false,
        "553",
    ),
    (
        "601",
        "goods issue for delivery",
        Flow::Out(U),
        false,
        "602",
    ),
    (
        "602",
        "reversal of goods issue for delivery",
        Flow::In(U),
        false,
        "601",
    ),
    (
        "301",
        "plant-to-plant transfer",
        Flow::PlantToPlant,
        false,
        "302",
    ),
    (
        "302",
        "reversal of plant-to-plant transfer",
        Flow::PlantToPlantReversal,
        false,
        "301",
    ),
];

/// Looks up a movement type.
pub fn movement_type(code: &str) -> Option<(Flow, bool, &'static str)> {
    MOVEMENT_TYPES
        .iter()
        .find(|m| m.0 == code)
        .map(|m| (m.2, m.3, m.4))
}
