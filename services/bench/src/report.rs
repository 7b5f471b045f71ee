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
    pub relay_throughput: f64,
    pub relay_latency: Latency,
    pub paced_rate: f64,
    pub paced_latency: Latency,
    pub paced_cpu: Usage,
    pub relay_paced_rate: f64,
    pub relay_paced_latency: Latency,
    pub relay_paced_cpu: Usage,
    pub grpc_throughput: f64,
    pub grpc_latency: Latency,
    pub log_records: i64,
    pub minimiser: Vec<(String, f64)>,
    pub peak_rss_mib: Vec<(String, f64)>,
    pub raw_cpu: Usage,
    pub hub_cpu: Usage,
    pub relay_cpu: Usage,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

impl Report {
    pub fn table(&self) -> String {
        let pair = |l: &Latency| format!("{:.1} / {:.1}", l.p50, l.p99);
        let mut out = String::new();
        out.push_str(&format!(
            "hub-bench: case updates of {} bytes (JSON)\n",
            self.payload_bytes
        ));
        out.push_str(&format!(
            "  {:<44} {:>12} {:>14} {:>14} {:>8}\n",
            "", "raw broker", "relay", "hub", "hub/raw"
        ));
        out.push_str(&format!(
            "  {:<44} {:>12.0} {:>14.0} {:>14.0} {:>8.2}\n",
            "throughput at saturation (messages/s)",
            self.raw_throughput,
            self.relay_throughput,
            self.hub_throughput,
            ratio(self.hub_throughput, self.raw_throughput)
        ));
        out.push_str(&format!(
            "  {:<44} {:>12} {:>14} {:>14}\n",
            "latency p50 / p99 at saturation (ms)",
            pair(&self.raw_latency),
            pair(&self.relay_latency),
            pair(&self.hub_latency)
        ));
        out.push_str(&format!(
            "  {:<44} {:>12} {:>14} {:>14}\n",
            format!(
                "latency p50 / p99 at {:.0} messages/s (ms)",
                self.paced_rate
            ),
            "",
            pair(&self.relay_paced_latency),
            pair(&self.paced_latency)
        ));
        out.push_str(&format!(
            "  {:<44} {:>12} {:>14.0} {:>14.0}\n",
            "  machine busy meanwhile (% of all cores)",
            "",
            self.relay_paced_cpu.busy,
            self.paced_cpu.busy
        ));
        out.push_str(&format!(
            "  relay/raw {:.2}: the ceiling of the hub's message flow on this broker; hub/relay {:.2}: \
             what the hub's own work leaves of it\n",
            ratio(self.relay_throughput, self.raw_throughput),
            ratio(self.hub_throughput, self.relay_throughput)
        ));
        out.push_str(&format!(
            "  gRPC SubmitCaseUpdate: {:.0} requests/s, p50 / p99 {} ms\n",
            self.grpc_throughput,
            pair(&self.grpc_latency)
        ));
        out.push_str(&format!(
            "  processing-log records written: {}\n",
            self.log_records
        ));
        out.push_str(&format!(
            "  CPU during the saturation runs (% of one core; {} cores): {:>8} {:>14} {:>14}\n",
            self.hub_cpu.cpus, "raw", "relay", "hub"
        ));
        let runs = [&self.raw_cpu, &self.relay_cpu, &self.hub_cpu];
        let mut names: Vec<&String> = Vec::new();
        for run in runs {
            for (name, _) in &run.groups {
                if !names.contains(&name) {
                    names.push(name);
                }
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
                "    {name:<52} {:>14} {:>14} {:>14}\n",
                of(&self.raw_cpu, name),
                of(&self.relay_cpu, name),
                of(&self.hub_cpu, name)
            ));
        }
        type Figure = fn(&Usage) -> f64;
        let machine: [(&str, Figure); 3] = [
            ("machine busy (% of all cores)", |u| u.busy),
            ("stolen by the hypervisor", |u| u.steal),
            ("idle", |u| u.idle),
        ];
        for (label, f) in machine {
            out.push_str(&format!(
                "    {label:<52} {:>14.0} {:>14.0} {:>14.0}\n",
                f(&self.raw_cpu),
                f(&self.relay_cpu),
                f(&self.hub_cpu)
            ));
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
            "relay": {"throughput_per_s": self.relay_throughput, "latency": latency(&self.relay_latency),
                      "ratio_to_raw": ratio(self.relay_throughput, self.raw_throughput)},
            "hub": {"throughput_per_s": self.hub_throughput, "latency": latency(&self.hub_latency),
                    "ratio_to_raw": ratio(self.hub_throughput, self.raw_throughput),
                    "ratio_to_relay": ratio(self.hub_throughput, self.relay_throughput)},
            "hub_paced": {"rate_per_s": self.paced_rate, "latency": latency(&self.paced_latency), "cpu": cpu(&self.paced_cpu)},
            "relay_paced": {"rate_per_s": self.relay_paced_rate, "latency": latency(&self.relay_paced_latency), "cpu": cpu(&self.relay_paced_cpu)},
            "grpc_ingest": {"throughput_per_s": self.grpc_throughput, "latency": latency(&self.grpc_latency)},
            "processing_log_records": self.log_records,
            "minimiser_ns": self.minimiser.iter().map(|(n, v)| json!({"name": n, "ns_per_op": v})).collect::<Vec<_>>(),
            "cpu": {"raw": cpu(&self.raw_cpu), "relay": cpu(&self.relay_cpu), "hub": cpu(&self.hub_cpu)},
            "peak_rss_mib": self.peak_rss_mib.iter().map(|(n, v)| json!({"service": n, "mib": v})).collect::<Vec<_>>(),
        })
    }
}
