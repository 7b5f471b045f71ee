//! Where the CPU went during a run: the broker, PostgreSQL, the hub's
//! services and the bench itself, and the machine's busy, steal and idle
//! time, from `/proc` (Linux). The hub shares its cores with the broker and
//! the database here, so these figures say what bounds the throughput.

use std::collections::BTreeMap;

/// CPU counters at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Machine: (busy, steal, idle + iowait, total) in ticks.
    machine: (u64, u64, u64, u64),
    /// Ticks (user + system) by group.
    groups: BTreeMap<String, u64>,
    cpus: u64,
}

/// CPU use between two snapshots.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    /// Per group, percent of one core.
    pub groups: Vec<(String, f64)>,
    /// Percent of all cores: busy, stolen by the hypervisor, idle.
    pub busy: f64,
    pub steal: f64,
    pub idle: f64,
    pub cpus: u64,
}

impl Snapshot {
    /// Reads the counters; `services` are the hub's child processes by name.
    pub fn take(services: &[(String, u32)]) -> Self {
        let (machine, cpus) = machine().unwrap_or_default();
        let mut snapshot = Self {
            machine,
            cpus: cpus.max(1),
            ..Self::default()
        };
        let own = std::process::id();
        let mut add = |group: &str, ticks: u64| {
            *snapshot.groups.entry(group.to_owned()).or_default() += ticks;
        };
        if let Some((_, ticks)) = process(own) {
            add("hub-bench (publisher, consumers)", ticks);
        }
        for (name, pid) in services {
            if let Some((_, ticks)) = process(*pid) {
                add(name, ticks);
            }
        }
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                match process(pid) {
                    Some((comm, ticks)) if comm == "beam.smp" => add("RabbitMQ (beam.smp)", ticks),
                    Some((comm, ticks)) if comm == "postgres" => add("PostgreSQL", ticks),
                    _ => {}
                }
            }
        }
        snapshot
    }

    /// Use from `self` to `later`.
    #[must_use]
    pub fn until(&self, later: &Self) -> Usage {
        let total = later.machine.3.saturating_sub(self.machine.3).max(1) as f64;
        let share = |a: u64, b: u64| b.saturating_sub(a) as f64 / total * 100.0;
        let cores = self.cpus as f64;
        Usage {
            groups: later
                .groups
                .iter()
                .map(|(name, ticks)| {
                    let before = self.groups.get(name).copied().unwrap_or(0);
                    (name.clone(), share(before, *ticks) * cores)
                })
                .collect(),
            busy: share(self.machine.0, later.machine.0),
            steal: share(self.machine.1, later.machine.1),
            idle: share(self.machine.2, later.machine.2),
            cpus: self.cpus,
        }
    }
}

/// (busy, steal, idle, total) ticks from the first line of `/proc/stat`,
/// and the machine's CPUs from its `cpuN` lines (not this process's
/// affinity: the bench may be pinned to some while the broker runs on
/// others).
fn machine() -> Option<((u64, u64, u64, u64), u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user)
    let get = |i: usize| fields.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let steal = get(7);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6);
    let cpus = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count() as u64;
    Some(((busy, steal, idle, busy + steal + idle), cpus))
}

/// A process's command name and user + system ticks.
fn process(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // After the command: state(0) ... utime(11) stime(12).
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_the_machine_are_read() {
        let (comm, _) = process(std::process::id()).unwrap();
        assert!(!comm.is_empty());
        let a = Snapshot::take(&[]);
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            for i in 0..100_000u64 {
                x = x.wrapping_add(i ^ (x >> 3));
            }
        }
        assert_ne!(x, 1);
        let usage = a.until(&Snapshot::take(&[]));
        let own = usage
            .groups
            .iter()
            .find(|(n, _)| n.starts_with("hub-bench"))
            .unwrap()
            .1;
        assert!(own > 0.0, "300 ms of work show as CPU time");
        assert!((usage.busy + usage.steal + usage.idle - 100.0).abs() < 1.0);
    }
}
