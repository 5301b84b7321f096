//! How busy each CPU and one process (the server) were during the measured slices, from the
//! CPU counters of /proc.

/// CPU counters in clock ticks: per CPU (busy, total) from the `cpuN` lines of /proc/stat,
/// and the user + system time of one process (the server) from its /proc/<pid>/stat.
pub(super) struct CpuReading {
    cpus: Vec<(u64, u64)>,
    process: u64,
}

/// Reads the counters now; the process's time is zero when none is given or it has ended.
pub(super) fn cpu_reading(process: Option<u32>) -> CpuReading {
    let cpus = std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("cpu") && !line.starts_with("cpu "))
        .map(|line| {
            let fields = crate::procfs::proc_stat_ticks(line);
            // Busy is what this guest ran, total adds idle, iowait and what the host stole.
            let field = |i: usize| fields.get(i).copied().unwrap_or(0);
            let busy = field(0) + field(1) + field(2) + field(5) + field(6);
            (busy, busy + field(3) + field(4) + field(7))
        })
        .collect();
    let process = process
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .and_then(|stat| crate::procfs::pid_stat(&stat).map(|stat| stat.ticks))
        .unwrap_or(0);
    CpuReading { cpus, process }
}

/// Busy and total ticks per CPU, and one process's ticks, summed over measured intervals.
#[derive(Default)]
pub(super) struct Busy {
    cpus: Vec<(u64, u64)>,
    process: u64,
}

impl Busy {
    /// Adds the ticks between `before` and `after`.
    pub(super) fn add(&mut self, before: &CpuReading, after: &CpuReading) {
        self.cpus.resize(after.cpus.len(), (0, 0));
        for (sum, (b, a)) in self
            .cpus
            .iter_mut()
            .zip(before.cpus.iter().zip(&after.cpus))
        {
            sum.0 += a.0.saturating_sub(b.0);
            sum.1 += a.1.saturating_sub(b.1);
        }
        self.process += after.process.saturating_sub(before.process);
    }

    /// Busy share of the CPUs `cpus`, in percent.
    pub(super) fn percent(&self, cpus: std::ops::Range<usize>) -> f64 {
        let (busy, total) = self
            .cpus
            .get(cpus)
            .unwrap_or_default()
            .iter()
            .fold((0, 0), |(b, t), (busy, total)| (b + busy, t + total));
        100.0 * busy as f64 / total.max(1) as f64
    }

    /// The process's CPU time as a share of CPU `cpu`'s time, in percent.
    pub(super) fn process_percent(&self, cpu: usize) -> f64 {
        let total = self.cpus.get(cpu).map_or(0, |&(_, total)| total);
        100.0 * self.process as f64 / total.max(1) as f64
    }
}
