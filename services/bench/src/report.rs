//! The figures of `hub-bench all`: one table, the same as JSON.

use serde_json::json;

use crate::cpu::Usage;

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub samples: usize,
}

impl Latency {
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if values.is_empty() {
                0.0
            } else {
                values[((values.len() as f64 - 1.0) * q).round() as usize]
            }
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            samples: values.len(),
        }
    }
}

/// Everything measured.
#[derive(Debug, Default)]
pub struct Report {
    pub payload_bytes: usize,
    pub raw_throughput: f64,
    pub raw_latency: Latency,
    pub hub_throughput: f64,
    pub hub_latency: Latency,
    pub paced_rate: f64,
    pub paced_latency: Latency,
    pub grpc_throughput: f64,
    pub grpc_latency: Latency,
    pub log_records: i64,
    pub minimiser: Vec<(String, f64)>,
    pub peak_rss_mib: Vec<(String, f64)>,
    pub raw_cpu: Usage,
    pub hub_cpu: Usage,
}

impl Report {
    pub fn table(&self) -> String {
        let ratio = if self.raw_throughput > 0.0 {
            self.hub_throughput / self.raw_throughput
        } else {
            0.0
        };
        let mut out = String::new();
        out.push_str(&format!(
            "hub-bench: case updates of {} bytes (JSON)\n",
            self.payload_bytes
        ));
        out.push_str(&format!(
            "  {:<52} {:>12} {:>12} {:>8}\n",
            "", "raw broker", "hub", "hub/raw"
        ));
        out.push_str(&format!(
            "  {:<52} {:>12.0} {:>12.0} {:>8.2}\n",
            "throughput at saturation (messages/s)",
            self.raw_throughput,
            self.hub_throughput,
            ratio
        ));
        out.push_str(&format!(
            "  {:<52} {:>12} {:>12}\n",
            "latency p50 / p99 at saturation (ms)",
            format!("{:.1} / {:.1}", self.raw_latency.p50, self.raw_latency.p99),
            format!("{:.1} / {:.1}", self.hub_latency.p50, self.hub_latency.p99)
        ));
        out.push_str(&format!(
            "  {:<52} {:>12} {:>12}\n",
            format!(
                "latency p50 / p99 at {:.0} messages/s (ms)",
                self.paced_rate
            ),
            "",
            format!(
                "{:.1} / {:.1}",
                self.paced_latency.p50, self.paced_latency.p99
            )
        ));
        out.push_str(&format!(
            "  {:<52} {:>12} {:>12}\n",
            "gRPC SubmitCaseUpdate: requests/s, p50 / p99 (ms)",
            format!("{:.0}", self.grpc_throughput),
            format!(
                "{:.1} / {:.1}",
                self.grpc_latency.p50, self.grpc_latency.p99
            )
        ));
        out.push_str(&format!(
            "  processing-log records written: {}\n",
            self.log_records
        ));
        out.push_str(&format!(
            "  CPU during the saturation runs (% of one core; {} cores): {:>12} {:>12}\n",
            self.hub_cpu.cpus, "raw broker", "hub"
        ));
        let mut names: Vec<&String> = self.hub_cpu.groups.iter().map(|(n, _)| n).collect();
        for (name, _) in &self.raw_cpu.groups {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let of = |u: &Usage, name: &str| {
            u.groups
                .iter()
                .find(|(n, _)| n == name)
                .map_or_else(|| "-".to_owned(), |(_, v)| format!("{v:.0}"))
        };
        for name in names {
            out.push_str(&format!(
                "    {name:<48} {:>14} {:>12}\n",
                of(&self.raw_cpu, name),
                of(&self.hub_cpu, name)
            ));
        }
        for (label, raw, hub) in [
            (
                "machine busy (% of all cores)",
                self.raw_cpu.busy,
                self.hub_cpu.busy,
            ),
            (
                "stolen by the hypervisor",
                self.raw_cpu.steal,
                self.hub_cpu.steal,
            ),
            ("idle", self.raw_cpu.idle, self.hub_cpu.idle),
        ] {
            out.push_str(&format!("    {label:<48} {raw:>14.0} {hub:>12.0}\n"));
        }
        out.push_str("  minimiser (per message):\n");
        for (name, ns) in &self.minimiser {
            out.push_str(&format!("    {name:<48} {ns:>9.0} ns\n"));
        }
        out.push_str("  peak resident memory:\n");
        for (name, mib) in &self.peak_rss_mib {
            out.push_str(&format!("    {name:<48} {mib:>9.1} MiB\n"));
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let cpu = |u: &Usage| {
            json!({
                "cores": u.cpus,
                "percent_of_one_core": u.groups.iter().map(|(n, v)| json!({"process": n, "percent": v})).collect::<Vec<_>>(),
                "machine_busy_percent": u.busy, "steal_percent": u.steal, "idle_percent": u.idle,
            })
        };
        let latency = |l: &Latency| json!({"p50_ms": l.p50, "p99_ms": l.p99, "samples": l.samples});
        json!({
            "payload_bytes": self.payload_bytes,
            "raw": {"throughput_per_s": self.raw_throughput, "latency": latency(&self.raw_latency)},
            "hub": {"throughput_per_s": self.hub_throughput, "latency": latency(&self.hub_latency),
                    "ratio_to_raw": if self.raw_throughput > 0.0 { self.hub_throughput / self.raw_throughput } else { 0.0 }},
            "hub_paced": {"rate_per_s": self.paced_rate, "latency": latency(&self.paced_latency)},
            "grpc_ingest": {"throughput_per_s": self.grpc_throughput, "latency": latency(&self.grpc_latency)},
            "processing_log_records": self.log_records,
            "minimiser_ns": self.minimiser.iter().map(|(n, v)| json!({"name": n, "ns_per_op": v})).collect::<Vec<_>>(),
            "cpu": {"raw": cpu(&self.raw_cpu), "hub": cpu(&self.hub_cpu)},
            "peak_rss_mib": self.peak_rss_mib.iter().map(|(n, v)| json!({"service": n, "mib": v})).collect::<Vec<_>>(),
        })
    }
}
