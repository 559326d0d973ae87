//! Which API each plant's ERP speaks (`ERP_DIALECTS`, e.g.
//! `1000=andon@1,2000=business-central@24,3000=s4hana@2502`): andon's own REST API, SAP
//! S/4HANA ([`crate::s4hana`]) or Microsoft Dynamics 365 Business Central ([`crate::bc`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use andon_contracts::PlantId;

use crate::bc;
use crate::s4hana::Release;

/// The API the ERP of a plant speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErpDialect {
    /// andon's own REST API (`/api/v1/…`).
    Andon,
    /// SAP S/4HANA OData V2 at a release.
    S4hana(Release),
    /// Microsoft Dynamics 365 Business Central (API v2.0 and the plant's extension API) at
    /// a release.
    BusinessCentral(bc::Release),
}

impl fmt::Display for ErpDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Andon => f.write_str("andon@1"),
            Self::S4hana(r) => write!(f, "s4hana@{}", r.name()),
            Self::BusinessCentral(r) => write!(f, "{}@{}", bc::DIALECT, r.name()),
        }
    }
}

/// Which plants' ERP speaks what (`ERP_DIALECTS`); a plant not listed speaks andon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErpDialects(BTreeMap<PlantId, ErpDialect>);

impl ErpDialects {
    /// The dialect of `plant`'s ERP.
    pub fn of(&self, plant: &PlantId) -> ErpDialect {
        self.0.get(plant).copied().unwrap_or(ErpDialect::Andon)
    }

    /// The S/4HANA release of `plant`'s ERP, when it is an S/4HANA system.
    pub fn s4(&self, plant: &PlantId) -> Option<Release> {
        match self.of(plant) {
            ErpDialect::S4hana(r) => Some(r),
            _ => None,
        }
    }

    /// The Business Central release of `plant`'s ERP, when it is a Business Central system.
    pub fn bc(&self, plant: &PlantId) -> Option<bc::Release> {
        match self.of(plant) {
            ErpDialect::BusinessCentral(r) => Some(r),
            _ => None,
        }
    }

    /// The S/4HANA plants with their releases.
    pub fn s4_plants(&self) -> Vec<(PlantId, Release)> {
        self.0
            .keys()
            .filter_map(|p| self.s4(p).map(|r| (p.clone(), r)))
            .collect()
    }

    /// The Business Central plants.
    pub fn bc_plants(&self) -> Vec<PlantId> {
        self.0
            .keys()
            .filter(|p| self.bc(p).is_some())
            .cloned()
            .collect()
    }

    /// Sets the dialect of `plant`.
    pub fn set(&mut self, plant: PlantId, dialect: ErpDialect) {
        self.0.insert(plant, dialect);
    }
}

impl fmt::Display for ErpDialects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(p, d)| format!("{p}={d}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// The dialect `name` at `release` (`None`: its newest).
fn dialect(entry: &str, name: &str, release: Option<&str>) -> Result<ErpDialect, String> {
    let unknown = |r: &str| {
        format!(
            "{entry:?}: {name} has no release {r:?} here (andon@1, s4hana@2408, s4hana@2502, \
             business-central@24, business-central@25)"
        )
    };
    match name {
        "andon" => match release {
            None | Some("1") => Ok(ErpDialect::Andon),
            Some(r) => Err(unknown(r)),
        },
        "s4hana" => match release {
            None => Ok(ErpDialect::S4hana(Release::R2502)),
            Some(r) => Release::parse(r)
                .map(ErpDialect::S4hana)
                .ok_or_else(|| unknown(r)),
        },
        bc::DIALECT | bc::ALIAS => match release {
            None => Ok(ErpDialect::BusinessCentral(bc::Release::NEWEST)),
            Some(r) => bc::Release::parse(r)
                .map(ErpDialect::BusinessCentral)
                .ok_or_else(|| unknown(r)),
        },
        _ => Err(format!(
            "{entry:?}: the reference middleware speaks andon, s4hana and business-central (bc) \
             to an ERP, not {name:?}"
        )),
    }
}

impl FromStr for ErpDialects {
    type Err = String;

    /// `PLANT=DIALECT@RELEASE,…`: `andon@1`, `s4hana@2408`, `s4hana@2502`,
    /// `business-central@24`, `business-central@25` (alias `bc`); a dialect without a release
    /// is its newest (`s4hana` 2502, `business-central` 25), as in andon's scenarios. Empty:
    /// every plant speaks andon.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut out = ErpDialects::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (plant, binding) = entry.split_once('=').ok_or_else(|| {
                format!("{entry:?}: expected PLANT=DIALECT@RELEASE, e.g. 1000=s4hana@2502")
            })?;
            let plant = PlantId::parse(plant.trim())
                .map_err(|e| format!("{entry:?}: plant {plant:?} is not a plant id: {e}"))?;
            let (name, release) = match binding.trim().split_once('@') {
                Some((d, r)) => (d.trim().to_ascii_lowercase(), Some(r.trim())),
                None => (binding.trim().to_ascii_lowercase(), None),
            };
            let d = dialect(entry, &name, release)?;
            if out.0.insert(plant.clone(), d).is_some() {
                return Err(format!("plant {plant} is listed twice"));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PlantId {
        PlantId::parse(s).unwrap()
    }

    #[test]
    fn erp_dialects_parse_and_malformed_values_are_refused() {
        let d: ErpDialects = "1000=andon@1, 2000=s4hana@2408,3000=s4hana"
            .parse()
            .unwrap();
        assert_eq!(d.of(&p("1000")), ErpDialect::Andon);
        assert_eq!(d.s4(&p("2000")), Some(Release::R2408));
        assert_eq!(d.s4(&p("3000")), Some(Release::R2502));
        assert_eq!(d.of(&p("4000")), ErpDialect::Andon);
        assert_eq!(
            d.to_string(),
            "1000=andon@1,2000=s4hana@2408,3000=s4hana@2502"
        );
        assert_eq!("".parse::<ErpDialects>().unwrap(), ErpDialects::default());
        for bad in [
            "1000",
            "1000=s4hana@2311",
            "1000=business-central@23",
            "1000=business-central@2502",
            "1000=bc@",
            "1000=navision@25",
            "1000=s4hana@2408,1000=andon",
            "1000=bc,1000=business-central@24",
            "=s4hana@2408",
        ] {
            assert!(bad.parse::<ErpDialects>().is_err(), "{bad} refused");
        }
    }

    #[test]
    fn business_central_plants_mix_with_andon_and_s4hana_ones() {
        let d: ErpDialects =
            "1000=andon@1,2000=business-central@24,3000=s4hana@2502,4000=business-central,5000=BC@25,6000=bc"
                .parse()
                .unwrap();
        assert_eq!(d.of(&p("1000")), ErpDialect::Andon);
        assert_eq!(d.bc(&p("2000")), Some(bc::Release::R24));
        assert_eq!(d.s4(&p("2000")), None);
        assert_eq!(d.s4(&p("3000")), Some(Release::R2502));
        assert_eq!(d.bc(&p("3000")), None);
        assert_eq!(
            d.bc(&p("4000")),
            Some(bc::Release::R25),
            "alone: the newest"
        );
        assert_eq!(d.bc(&p("5000")), Some(bc::Release::R25));
        assert_eq!(d.bc(&p("6000")), Some(bc::Release::R25), "the alias");
        assert_eq!(
            d.bc_plants(),
            vec![p("2000"), p("4000"), p("5000"), p("6000")]
        );
        assert_eq!(d.s4_plants(), vec![(p("3000"), Release::R2502)]);
        assert_eq!(
            d.to_string(),
            "1000=andon@1,2000=business-central@24,3000=s4hana@2502,4000=business-central@25,\
             5000=business-central@25,6000=business-central@25"
        );
        let again: ErpDialects = d.to_string().parse().unwrap();
        assert_eq!(again, d, "what is printed parses back");
    }
}
