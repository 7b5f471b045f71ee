//! The minimiser micro-benchmark: a realistic case update (every field
//! populated, about 2 KB as JSON), minimised for each of its routes.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use hub_policy::{Catalog, ContentType, mask, payload, samples};
use prost_reflect::DynamicMessage;

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// The catalog.
    #[arg(long, default_value = "policy/catalog.toml")]
    catalog: PathBuf,
    /// Iterations per measurement.
    #[arg(long, default_value_t = 200_000)]
    iterations: u32,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl Args {
    /// The defaults, for another catalog.
    #[must_use]
    pub fn new(catalog: PathBuf) -> Self {
        Self {
            catalog,
            iterations: 200_000,
            json: None,
        }
    }
}

/// One measured operation.
pub struct Figure {
    pub name: String,
    pub ns_per_op: f64,
}

/// All figures.
pub struct Report {
    pub payload_bytes: usize,
    pub figures: Vec<Figure>,
}

fn measure(iterations: u32, mut op: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        op();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

/// Runs the benchmark.
pub fn run(args: &Args) -> anyhow::Result<Report> {
    let catalog = Catalog::load(&args.catalog)?;
    let case_type = catalog
        .message_type("reintegration.case_update.v1")
        .ok_or_else(|| anyhow::anyhow!("the catalog has no case update"))?;
    let mut message = DynamicMessage::new(case_type.schema.clone());
    message.transcode_from(&samples::case_update(1, 1))?;
    let json = serde_json::to_vec(&message)?;
    let wire = payload::decode_to_wire(
        &case_type.schema,
        &case_type.shape,
        ContentType::Json,
        &json,
    )?;
    let mut figures = Vec::new();
    figures.push(Figure {
        name: "decode json to wire bytes".to_owned(),
        ns_per_op: measure(args.iterations / 10, || {
            let _ = black_box(payload::decode_to_wire(
                &case_type.schema,
                &case_type.shape,
                ContentType::Json,
                black_box(&json),
            ));
        }),
    });
    figures.push(Figure {
        name: "check protobuf for unknown fields".to_owned(),
        ns_per_op: measure(args.iterations, || {
            let _ = black_box(payload::decode_to_wire(
                &case_type.schema,
                &case_type.shape,
                ContentType::Protobuf,
                black_box(&wire),
            ));
        }),
    });
    figures.push(Figure {
        name: "validate (required, BSN, dates)".to_owned(),
        ns_per_op: measure(args.iterations / 4, || {
            let _ = black_box(payload::validate_wire(
                case_type.payload_schema,
                black_box(&wire),
                chrono::Utc::now(),
            ));
        }),
    });
    for route in catalog.routes_for(&case_type.id) {
        figures.push(Figure {
            name: format!("minimise for {}", route.recipient),
            ns_per_op: measure(args.iterations, || {
                black_box(route.mask.minimise(black_box(&wire)));
            }),
        });
        let minimised = route.mask.minimise(&wire).bytes;
        figures.push(Figure {
            name: format!(
                "encode copy for {} ({})",
                route.recipient,
                route.encoding.as_str()
            ),
            ns_per_op: measure(args.iterations / 4, || {
                let _ = black_box(mask::encode(
                    &case_type.schema,
                    black_box(minimised.clone()),
                    route.encoding,
                ));
            }),
        });
    }
    Ok(Report {
        payload_bytes: json.len(),
        figures,
    })
}

impl Report {
    /// The figures as a table.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = format!(
            "minimiser micro-benchmark: case update of {} bytes (JSON), every field populated\n",
            self.payload_bytes
        );
        out.push_str(&format!("  {:<48} {:>12}\n", "operation", "per message"));
        for f in &self.figures {
            out.push_str(&format!("  {:<48} {:>9.0} ns\n", f.name, f.ns_per_op));
        }
        out
    }

    /// The figures as JSON.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "payload_bytes": self.payload_bytes,
            "figures": self.figures.iter().map(|f| serde_json::json!({"name": f.name, "ns_per_op": f.ns_per_op})).collect::<Vec<_>>(),
        })
    }
}
