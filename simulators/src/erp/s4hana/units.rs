//! SAP's internal units of measure and their ISO codes (release 2502 asks for
//! `EntryUnitISOCode`, as S/4HANA's APIs added `…ISOCode` fields beside the SAP unit).

/// SAP internal unit → ISO code (UN/ECE Recommendation 20), for the units andon's master
/// data uses and their usual neighbours.
const UNITS: &[(&str, &str)] = &[
    ("PC", "PCE"),
    ("ST", "PCE"),
    ("EA", "EA"),
    ("KG", "KGM"),
    ("G", "GRM"),
    ("TO", "TNE"),
    ("L", "LTR"),
    ("ML", "MLT"),
    ("M", "MTR"),
    ("CM", "CMT"),
    ("MM", "MMT"),
    ("M2", "MTK"),
    ("M3", "MTQ"),
    ("BOX", "BX"),
    ("CS", "CS"),
    ("PAL", "PF"),
];

/// The ISO code of SAP unit `sap` (the unit itself when andon knows no ISO code for it).
pub fn iso_of(sap: &str) -> String {
    UNITS
        .iter()
        .find(|(s, _)| *s == sap)
        .map_or(sap, |(_, iso)| iso)
        .to_string()
}

/// The SAP unit of ISO code `iso`, if andon knows it (`PCE` is `PC`).
pub fn sap_of(iso: &str) -> Option<&'static str> {
    UNITS.iter().find(|(_, i)| *i == iso).map(|(s, _)| *s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_codes_round_trip_for_the_master_data_units() {
        for u in ["PC", "KG", "G", "L", "M"] {
            assert_eq!(super::sap_of(&super::iso_of(u)), Some(u));
        }
        assert_eq!(super::iso_of("XYZ"), "XYZ");
        assert_eq!(super::sap_of("XYZ"), None);
    }
}
