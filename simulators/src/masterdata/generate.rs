//! Master data generated from a seed: per plant, raw materials with alternative units and
//! initial stock of their batches, then finished goods with BOMs over those raw materials
//! and routings over the plant's lines. The same seed and plants give the same data: every
//! random draw is made in a fixed order.

use andon_contracts::objects::{OrderOperation, StockType, UnitConversion};
use andon_contracts::{BatchId, Material, MaterialId, PlantId, Quantity, StorageLocation, Unit};
use fake::Fake;
use fake::faker::company::en::Buzzword;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    Bom, BomComponent, InitialStock, MasterData, Plant, PlantSpec, Profile, Routing,
    default_company, default_periods, default_tz,
};

/// Production lines of each plant of [`MasterData::generated`].
pub const GENERATED_LINES: u32 = 3;
/// Finished materials of each plant of [`MasterData::generated`].
pub const GENERATED_MATERIALS: u32 = 8;

impl MasterData {
    /// Generates master data for these plants from a seed: finished goods with BOMs and
    /// routings over the plant's lines, raw materials with alternative units, and
    /// initial unrestricted stock of raw-material batches.
    pub fn generate(seed: u64, specs: &[PlantSpec]) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4D41_5354);
        let mut md = MasterData {
            open_periods: default_periods(),
            plants: Vec::new(),
            materials: Vec::new(),
            boms: Vec::new(),
            routings: Vec::new(),
            stock: Vec::new(),
        };
        for spec in specs {
            md.generate_plant(&mut rng, spec);
        }
        md
    }

    /// Master data generated for `plants` as `andon serve` and a simulator without
    /// `--master` make it: [`GENERATED_LINES`] lines and [`GENERATED_MATERIALS`] finished
    /// materials each, discrete manufacturing.
    pub fn generated(seed: u64, plants: &[PlantId]) -> Self {
        let specs: Vec<PlantSpec> = plants
            .iter()
            .map(|p| PlantSpec {
                id: p.clone(),
                lines: GENERATED_LINES,
                materials: GENERATED_MATERIALS,
                profile: Profile::Discrete,
            })
            .collect();
        Self::generate(seed, &specs)
    }

    /// Adds one generated plant: the plant, its raw materials with their stock, then its
    /// finished goods with BOMs over those raw materials and routings (draws from `rng` in
    /// that order).
    fn generate_plant(&mut self, rng: &mut ChaCha8Rng, spec: &PlantSpec) {
        self.plants.push(Plant {
            plant: spec.id.clone(),
            company_code: default_company(),
            time_zone: default_tz(),
            storage_locations: vec![sloc("0001"), sloc("0002")],
            lines: spec.lines.max(1),
            profile: spec.profile,
        });
        let raw_count = (spec.materials.max(1) / 2).clamp(2, 12);
        let mut raws = Vec::new();
        for r in 1..=raw_count {
            raws.push(self.generate_raw(rng, &spec.id, r));
        }
        for f in 1..=spec.materials.max(1) {
            self.generate_finished(rng, spec, &raws, f);
        }
    }

    /// Adds raw material number `r` of plant `p` (kilograms for even numbers, pieces for
    /// odd ones) with three batches of unrestricted stock; returns its id and base unit.
    fn generate_raw(&mut self, rng: &mut ChaCha8Rng, p: &PlantId, r: u32) -> (MaterialId, Unit) {
        let id = MaterialId::parse(format!("RM-{p}-{r:02}")).expect("generated id is valid");
        let (base, alt) = if r.is_multiple_of(2) {
            (
                unit("KG"),
                vec![UnitConversion {
                    unit: unit("G"),
                    numerator: 1,
                    denominator: 1000,
                }],
            )
        } else {
            (
                unit("PC"),
                vec![UnitConversion {
                    unit: unit("BOX"),
                    numerator: 50,
                    denominator: 1,
                }],
            )
        };
        self.materials.push(Material {
            material: id.clone(),
            description: format!("Raw {}", Buzzword().fake_with_rng::<String, _>(rng)),
            base_unit: base.clone(),
            alternative_units: alt,
            batch_managed: true,
            inspection_required: false,
            plants: vec![p.clone()],
        });
        for b in 1..=3u32 {
            let batch = BatchId::parse(format!("R{}{:02}{b}", &p.as_str()[..1], r))
                .expect("generated batch is valid");
            self.stock.push(InitialStock {
                plant: p.clone(),
                storage_location: sloc("0001"),
                material: id.clone(),
                batch: Some(batch),
                stock_type: StockType::Unrestricted,
                quantity: Quantity::from_milli(
                    rng.random_range(200_000..400_000) * 1000,
                    base.clone(),
                ),
            });
        }
        (id, base)
    }

    /// Adds finished material number `f` of the plant with its BOM over `raws` and its
    /// routing on one of the plant's lines.
    fn generate_finished(
        &mut self,
        rng: &mut ChaCha8Rng,
        spec: &PlantSpec,
        raws: &[(MaterialId, Unit)],
        f: u32,
    ) {
        let p = &spec.id;
        let id = MaterialId::parse(format!("FG-{p}-{f:02}")).expect("generated id is valid");
        let base = if spec.profile == Profile::Batch {
            unit("KG")
        } else {
            unit("PC")
        };
        self.materials.push(Material {
            material: id.clone(),
            description: format!("Finished {}", Buzzword().fake_with_rng::<String, _>(rng)),
            base_unit: base.clone(),
            alternative_units: vec![UnitConversion {
                unit: unit("BOX"),
                numerator: 12,
                denominator: 1,
            }],
            batch_managed: true,
            inspection_required: rng.random_bool(0.6),
            plants: vec![p.clone()],
        });
        self.boms.push(Bom {
            material: id.clone(),
            plant: p.clone(),
            base_quantity: Quantity::from_milli(1000, base),
            components: generated_components(rng, raws),
        });
        let line = (f - 1) % spec.lines.max(1) + 1;
        self.routings.push(generated_routing(rng, id, p, line));
    }
}

/// A unit written as a literal.
fn unit(s: &str) -> Unit {
    Unit::parse(s).expect("valid literal")
}

/// A storage location written as a literal.
fn sloc(s: &str) -> StorageLocation {
    StorageLocation::parse(s).expect("valid literal")
}

/// One to three consecutive raw materials (wrapping around), starting at a random one, each
/// 0.25 to 1 of its base unit per unit of the finished good.
fn generated_components(rng: &mut ChaCha8Rng, raws: &[(MaterialId, Unit)]) -> Vec<BomComponent> {
    let n = rng.random_range(1..=raws.len().min(3));
    let start = rng.random_range(0..raws.len());
    (0..n)
        .map(|k| {
            let (m, b) = &raws[(start + k) % raws.len()];
            BomComponent {
                material: m.clone(),
                quantity: Quantity::from_milli(rng.random_range(1..=4) * 250, b.clone()),
            }
        })
        .collect()
}

/// Two or three operations (mix, fill, pack) of `material`, all on work centre
/// `LINE-<line>`.
fn generated_routing(
    rng: &mut ChaCha8Rng,
    material: MaterialId,
    plant: &PlantId,
    line: u32,
) -> Routing {
    let ops = rng.random_range(2..=3u32);
    Routing {
        material,
        plant: plant.clone(),
        operations: (1..=ops)
            .map(|o| OrderOperation {
                operation: andon_contracts::OperationId::parse(format!("{:04}", o * 10))
                    .expect("valid"),
                work_center: format!("LINE-{line}"),
                description: ["Mix", "Fill", "Pack"][(o as usize - 1) % 3].into(),
            })
            .collect(),
    }
}
