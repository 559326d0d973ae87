//! Master data shared by the simulators: plants, materials with units and conversions,
//! BOMs, routings, initial stock and open posting periods — from a YAML file or generated
//! from a seed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use andon_contracts::objects::{OrderOperation, StockType, UnitConversion};
use andon_contracts::{BatchId, Material, MaterialId, PlantId, Quantity, StorageLocation, Unit};
use fake::Fake;
use fake::faker::company::en::Buzzword;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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
        for (i, p) in self.open_periods.iter().enumerate() {
            if parse_period(p).is_none() {
                return Err((
                    format!("open_periods[{i}]"),
                    format!("{p:?} must be YYYY/MM"),
                ));
            }
        }
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
        let known =
            |path: String, m: &MaterialId, p: &PlantId| -> Result<&Material, (String, String)> {
                if !plants.contains(p) {
                    return Err((path, format!("plant {p} is not defined under plants")));
                }
                let mat = mats.get(m).ok_or_else(|| {
                    (
                        path.clone(),
                        format!("material {m} is not defined under materials"),
                    )
                })?;
                if !mat.plants.is_empty() && !mat.plants.contains(p) {
                    return Err((path, format!("material {m} is not maintained in plant {p}")));
                }
                Ok(mat)
            };
        for (i, b) in self.boms.iter().enumerate() {
            known(format!("boms[{i}].material"), &b.material, &b.plant)?;
            for (j, c) in b.components.iter().enumerate() {
                let m = known(
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
        for (i, r) in self.routings.iter().enumerate() {
            known(format!("routings[{i}].material"), &r.material, &r.plant)?;
        }
        for (i, s) in self.stock.iter().enumerate() {
            let m = known(format!("stock[{i}].material"), &s.material, &s.plant)?;
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

    /// Generates master data for these plants from a seed: finished goods with BOMs and
    /// routings over the plant's lines, raw materials with alternative units, and
    /// initial unrestricted stock of raw-material batches.
    pub fn generate(seed: u64, specs: &[PlantSpec]) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4D41_5354);
        let u = |s: &str| Unit::parse(s).expect("valid literal");
        let sloc = StorageLocation::parse("0001").expect("valid literal");
        let mut md = MasterData {
            open_periods: default_periods(),
            plants: Vec::new(),
            materials: Vec::new(),
            boms: Vec::new(),
            routings: Vec::new(),
            stock: Vec::new(),
        };
        for spec in specs {
            let p = spec.id.clone();
            md.plants.push(Plant {
                plant: p.clone(),
                company_code: default_company(),
                time_zone: default_tz(),
                storage_locations: vec![
                    sloc.clone(),
                    StorageLocation::parse("0002").expect("valid literal"),
                ],
                lines: spec.lines.max(1),
                profile: spec.profile,
            });
            let raw_count = (spec.materials.max(1) / 2).clamp(2, 12);
            let mut raws = Vec::new();
            for r in 1..=raw_count {
                let id =
                    MaterialId::parse(format!("RM-{p}-{r:02}")).expect("generated id is valid");
                let (base, alt) = if r % 2 == 0 {
                    (
                        u("KG"),
                        vec![UnitConversion {
                            unit: u("G"),
                            numerator: 1,
                            denominator: 1000,
                        }],
                    )
                } else {
                    (
                        u("PC"),
                        vec![UnitConversion {
                            unit: u("BOX"),
                            numerator: 50,
                            denominator: 1,
                        }],
                    )
                };
                md.materials.push(Material {
                    material: id.clone(),
                    description: format!("Raw {}", Buzzword().fake_with_rng::<String, _>(&mut rng)),
                    base_unit: base.clone(),
                    alternative_units: alt,
                    batch_managed: true,
                    inspection_required: false,
                    plants: vec![p.clone()],
                });
                for b in 1..=3u32 {
                    let batch = BatchId::parse(format!("R{}{:02}{b}", &p.as_str()[..1], r))
                        .expect("generated batch is valid");
                    md.stock.push(InitialStock {
                        plant: p.clone(),
                        storage_location: sloc.clone(),
                        material: id.clone(),
                        batch: Some(batch),
                        stock_type: StockType::Unrestricted,
                        quantity: Quantity::from_milli(
                            rng.random_range(200_000..400_000) * 1000,
                            base.clone(),
                        ),
                    });
                }
                raws.push((id, base));
            }
            for f in 1..=spec.materials.max(1) {
                let id =
                    MaterialId::parse(format!("FG-{p}-{f:02}")).expect("generated id is valid");
                let base = if spec.profile == Profile::Batch {
                    u("KG")
                } else {
                    u("PC")
                };
                md.materials.push(Material {
                    material: id.clone(),
                    description: format!(
                        "Finished {}",
                        Buzzword().fake_with_rng::<String, _>(&mut rng)
                    ),
                    base_unit: base.clone(),
                    alternative_units: vec![UnitConversion {
                        unit: u("BOX"),
                        numerator: 12,
                        denominator: 1,
                    }],
                    batch_managed: true,
                    inspection_required: rng.random_bool(0.6),
                    plants: vec![p.clone()],
                });
                let n = rng.random_range(1..=raws.len().min(3));
                let start = rng.random_range(0..raws.len());
                let components = (0..n)
                    .map(|k| {
                        let (m, b) = &raws[(start + k) % raws.len()];
                        BomComponent {
                            material: m.clone(),
                            quantity: Quantity::from_milli(
                                rng.random_range(1..=4) * 250,
                                b.clone(),
                            ),
                        }
                    })
                    .collect();
                md.boms.push(Bom {
                    material: id.clone(),
                    plant: p.clone(),
                    base_quantity: Quantity::from_milli(1000, base),
                    components,
                });
                let line = (f - 1) % spec.lines.max(1) + 1;
                let ops = rng.random_range(2..=3u32);
                md.routings.push(Routing {
                    material: id,
                    plant: p.clone(),
                    operations: (1..=ops)
                        .map(|o| OrderOperation {
                            operation: andon_contracts::OperationId::parse(format!(
                                "{:04}",
                                o * 10
                            ))
                            .expect("valid"),
                            work_center: format!("LINE-{line}"),
                            description: ["Mix", "Fill", "Pack"][(o as usize - 1) % 3].into(),
                        })
                        .collect(),
                });
            }
        }
        md
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
