//! Master data shared by the simulators: plants, materials with units and conversions,
//! BOMs, routings, initial stock and open posting periods — from a YAML file or generated
//! from a seed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use andon_contracts::objects::{OrderOperation, StockType};
use andon_contracts::{BatchId, Material, MaterialId, PlantId, Quantity, StorageLocation};
use serde::{Deserialize, Serialize};

mod generate;

pub use generate::{GENERATED_LINES, GENERATED_MATERIALS};

/// How a plant produces (drives the MES activity shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Many small confirmations (assembly, bottling).
    #[default]
    Discrete,
    /// Fewer, larger lots with genealogy (chemicals, food).
    Batch,
}

/// A plant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    /// Plant id.
    pub plant: PlantId,
    /// Company code the plant posts into.
    #[serde(default = "default_company")]
    pub company_code: String,
    /// Time zone.
    #[serde(default = "default_tz")]
    pub time_zone: String,
    /// Storage locations.
    #[serde(default = "default_sloc")]
    pub storage_locations: Vec<StorageLocation>,
    /// Production lines (work centres `LINE-<n>`).
    #[serde(default = "one")]
    pub lines: u32,
    /// Production profile.
    #[serde(default)]
    pub profile: Profile,
}

fn default_company() -> String {
    "1000".into()
}
fn default_tz() -> String {
    "Europe/Berlin".into()
}
fn default_sloc() -> Vec<StorageLocation> {
    vec![StorageLocation::parse("0001").expect("valid literal")]
}
fn one() -> u32 {
    1
}

/// A bill of materials: components per `base_quantity` of the header material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bom {
    /// Header material.
    pub material: MaterialId,
    /// Plant.
    pub plant: PlantId,
    /// Quantity of the header the components are for.
    pub base_quantity: Quantity,
    /// Components.
    pub components: Vec<BomComponent>,
}

/// A BOM component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BomComponent {
    /// Component material.
    pub material: MaterialId,
    /// Quantity per base quantity of the header.
    pub quantity: Quantity,
}

/// A routing: the operations that make a material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Material made.
    pub material: MaterialId,
    /// Plant.
    pub plant: PlantId,
    /// Operations.
    pub operations: Vec<OrderOperation>,
}

/// Initial stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialStock {
    /// Plant.
    pub plant: PlantId,
    /// Storage location.
    pub storage_location: StorageLocation,
    /// Material.
    pub material: MaterialId,
    /// Batch.
    pub batch: Option<BatchId>,
    /// Stock type (default unrestricted).
    #[serde(default = "unrestricted")]
    pub stock_type: StockType,
    /// Quantity.
    pub quantity: Quantity,
}

fn unrestricted() -> StockType {
    StockType::Unrestricted
}

/// All master data of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterData {
    /// Open posting periods (`2026/11`), newest first.
    #[serde(default = "default_periods")]
    pub open_periods: Vec<String>,
    /// Plants.
    pub plants: Vec<Plant>,
    /// Materials.
    pub materials: Vec<Material>,
    /// BOMs.
    #[serde(default)]
    pub boms: Vec<Bom>,
    /// Routings.
    #[serde(default)]
    pub routings: Vec<Routing>,
    /// Initial stock.
    #[serde(default)]
    pub stock: Vec<InitialStock>,
}

fn default_periods() -> Vec<String> {
    vec!["2026/11".into(), "2026/10".into()]
}

/// A bad master-data file: where and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum MasterDataError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// File.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// YAML syntax or type error.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// File.
        file: String,
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What was expected.
        message: String,
    },
    /// A reference to something not defined.
    #[error("{file}: {path}: {message}")]
    Invalid {
        /// File.
        file: String,
        /// Where in the document (`boms[2].components[0].material`).
        path: String,
        /// What was expected.
        message: String,
    },
}

/// What to generate for one plant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantSpec {
    /// Plant id.
    pub id: PlantId,
    /// Production lines.
    pub lines: u32,
    /// Finished materials.
    pub materials: u32,
    /// Profile.
    pub profile: Profile,
}

impl MasterData {
    /// Reads a YAML file; errors name the file, line and what was expected.
    pub fn load(path: &Path) -> Result<Self, MasterDataError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MasterDataError::Io {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text, &file)
    }

    /// Parses YAML text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, MasterDataError> {
        let md: MasterData = serde_norway::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            MasterDataError::Syntax {
                file: file.to_string(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        md.check()
            .map_err(|(path, message)| MasterDataError::Invalid {
                file: file.to_string(),
                path,
                message,
            })?;
        Ok(md)
    }

    /// Checks references between sections.
    pub fn check(&self) -> Result<(), (String, String)> {
        let plants: BTreeSet<&PlantId> = self.plants.iter().map(|p| &p.plant).collect();
        let mats: BTreeMap<&MaterialId, &Material> =
            self.materials.iter().map(|m| (&m.material, m)).collect();
        if self.plants.is_empty() {
            return Err(("plants".into(), "at least one plant is required".into()));
        }
        self.check_periods()?;
        self.check_materials(&plants)?;
        let known = Known {
            plants: &plants,
            materials: &mats,
        };
        self.check_boms(&known)?;
        for (i, r) in self.routings.iter().enumerate() {
            known.material(format!("routings[{i}].material"), &r.material, &r.plant)?;
        }
        self.check_stock(&known)
    }

    /// Every open period is written `YYYY/MM`.
    fn check_periods(&self) -> Result<(), (String, String)> {
        for (i, p) in self.open_periods.iter().enumerate() {
            if parse_period(p).is_none() {
                return Err((
                    format!("open_periods[{i}]"),
                    format!("{p:?} must be YYYY/MM"),
                ));
            }
        }
        Ok(())
    }

    /// Every material names only defined plants, and its unit conversions divide by
    /// nothing smaller than 1.
    fn check_materials(&self, plants: &BTreeSet<&PlantId>) -> Result<(), (String, String)> {
        for (i, m) in self.materials.iter().enumerate() {
            for p in &m.plants {
                if !plants.contains(p) {
                    return Err((
                        format!("materials[{i}].plants"),
                        format!("plant {p} is not defined under plants"),
                    ));
                }
            }
            for (j, c) in m.alternative_units.iter().enumerate() {
                if c.numerator == 0 || c.denominator == 0 {
                    return Err((
                        format!("materials[{i}].alternative_units[{j}]"),
                        "numerator and denominator must be at least 1".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every BOM's header and components are known materials of its plant, and every
    /// component quantity converts to the component's base unit.
    fn check_boms(&self, known: &Known<'_>) -> Result<(), (String, String)> {
        for (i, b) in self.boms.iter().enumerate() {
            known.material(format!("boms[{i}].material"), &b.material, &b.plant)?;
            for (j, c) in b.components.iter().enumerate() {
                let m = known.material(
                    format!("boms[{i}].components[{j}].material"),
                    &c.material,
                    &b.plant,
                )?;
                if m.to_base_milli(&c.quantity).is_none() {
                    return Err((
                        format!("boms[{i}].components[{j}].quantity"),
                        format!(
                            "unit {} has no conversion to {}",
                            c.quantity.unit, m.base_unit
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every initial stock row is of a known material of its plant, in a unit that converts
    /// to the base unit, with a batch exactly when the material is batch managed.
    fn check_stock(&self, known: &Known<'_>) -> Result<(), (String, String)> {
        for (i, s) in self.stock.iter().enumerate() {
            let m = known.material(format!("stock[{i}].material"), &s.material, &s.plant)?;
            if m.to_base_milli(&s.quantity).is_none() {
                return Err((
                    format!("stock[{i}].quantity"),
                    format!(
                        "unit {} has no conversion to {}",
                        s.quantity.unit, m.base_unit
                    ),
                ));
            }
            if m.batch_managed != s.batch.is_some() {
                return Err((
                    format!("stock[{i}].batch"),
                    format!(
                        "material {} is {}batch managed",
                        m.material,
                        if m.batch_managed { "" } else { "not " }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The material, if maintained in `plant`.
    pub fn material_in(&self, material: &MaterialId, plant: &PlantId) -> Option<&Material> {
        self.materials
            .iter()
            .find(|m| &m.material == material && (m.plants.is_empty() || m.plants.contains(plant)))
    }

    /// The plant.
    pub fn plant(&self, plant: &PlantId) -> Option<&Plant> {
        self.plants.iter().find(|p| &p.plant == plant)
    }

    /// All plant ids.
    pub fn plant_ids(&self) -> BTreeSet<PlantId> {
        self.plants.iter().map(|p| p.plant.clone()).collect()
    }
}

/// Looks up materials by id for [`MasterData::check`], within the plants defined.
struct Known<'a> {
    plants: &'a BTreeSet<&'a PlantId>,
    materials: &'a BTreeMap<&'a MaterialId, &'a Material>,
}

impl Known<'_> {
    /// The material `m`, if plant `p` is defined and `m` is defined and maintained in it;
    /// otherwise what is wrong, at `path`.
    fn material(
        &self,
        path: String,
        m: &MaterialId,
        p: &PlantId,
    ) -> Result<&Material, (String, String)> {
        if !self.plants.contains(p) {
            return Err((path, format!("plant {p} is not defined under plants")));
        }
        let mat = self.materials.get(m).ok_or_else(|| {
            (
                path.clone(),
                format!("material {m} is not defined under materials"),
            )
        })?;
        if !mat.plants.is_empty() && !mat.plants.contains(p) {
            return Err((path, format!("material {m} is not maintained in plant {p}")));
        }
        Ok(mat)
    }
}

/// Parses `YYYY/MM`.
pub fn parse_period(p: &str) -> Option<(i32, u32)> {
    let (y, m) = p.split_once('/')?;
    let (y, m) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some((y, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Vec<PlantSpec> {
        vec![PlantSpec {
            id: PlantId::parse("1000").unwrap(),
            lines: 2,
            materials: 4,
            profile: Profile::Discrete,
        }]
    }

    #[test]
    fn generation_is_deterministic_and_consistent() {
        let a = MasterData::generate(42, &spec());
        assert_eq!(a, MasterData::generate(42, &spec()));
        assert_ne!(a, MasterData::generate(43, &spec()));
        a.check().unwrap();
        assert_eq!(a.boms.len(), 4);
    }

    #[test]
    fn yaml_round_trips() {
        let a = MasterData::generate(1, &spec());
        let text = serde_norway::to_string(&a).unwrap();
        assert_eq!(MasterData::parse(&text, "x.yaml").unwrap(), a);
    }

    #[test]
    fn bad_yaml_names_file_line_and_expectation() {
        let text = "plants:\n  - plant: \"10000\"\nmaterials: []\n";
        let err = MasterData::parse(text, "plant.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("plant.yaml:2:"), "{err}");
        assert!(err.contains("exactly 4 characters"), "{err}");
    }

    #[test]
    fn dangling_reference_names_the_entry() {
        let text = "plants:\n  - plant: \"1000\"\nmaterials: []\nstock:\n  - {plant: \"1000\", storage_location: \"0001\", material: X, batch: B1, quantity: {value: 1, unit: KG}}\n";
        let err = MasterData::parse(text, "plant.yaml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "plant.yaml: stock[0].material: material X is not defined under materials"
        );
    }
}
