//! What the benchmarks read of /proc: the machine's CPU counters and a process's CPU time.

/// The numbers of a `cpu` line of /proc/stat, in clock ticks: user, nice, system, idle,
/// iowait, irq, softirq, steal, guest, guest_nice (guest time is inside user).
pub fn proc_stat_ticks(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect()
}

/// The whole machine's CPU time from the first (`cpu`) line of /proc/stat, in clock ticks:
/// `(total, idle)`, total being the first eight counters and idle being idle + iowait.
/// Zeros where /proc is not available.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields = proc_stat_ticks(stat.lines().next().unwrap_or_default());
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    (fields.iter().take(8).sum(), field(3) + field(4))
}

/// What the benchmarks read of a /proc/<pid>/stat line.
pub struct PidStat<'a> {
    /// The command name (without the parentheses; it may hold spaces).
    pub comm: &'a str,
    pub parent: Option<u32>,
    /// User + system CPU time, in clock ticks.
    pub ticks: u64,
}

/// Parses a /proc/<pid>/stat line: after the command, state is field 3, the parent 4,
/// utime 14 and stime 15.
pub fn pid_stat(stat: &str) -> Option<PidStat<'_>> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |i: usize| rest.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    Some(PidStat {
        comm: &stat[open + 1..close],
        parent: rest.get(1).and_then(|p| p.parse().ok()),
        ticks: field(11) + field(12),
    })
}
