//! Pinning to CPUs: this process and the processes of some names (every thread), or one
//! thread, set to a `taskset` CPU list, and put back when done.

/// This process and every process named in `names`, pinned (every thread) to the CPUs
/// `cpus` while this lives, then to `all` again.
pub(super) struct Pinned {
    names: Vec<&'static str>,
    all: String,
}

impl Pinned {
    /// Fails (having put back what it pinned) when some process could not be pinned, for
    /// example one of another user without the rights to change it.
    pub(super) fn new(names: &[&'static str], cpus: &str, all: &str) -> anyhow::Result<Self> {
        let pinned = Self {
            names: names.to_vec(),
            all: all.to_owned(),
        };
        let left = settle(&pinned.names, cpus);
        anyhow::ensure!(left.is_empty(), "could not pin processes {left:?}");
        Ok(pinned)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let left = settle(&self.names, &self.all);
        if !left.is_empty() {
            eprintln!(
                "could not unpin processes {left:?}: `taskset -a -p -c {} <pid>`",
                self.all
            );
        }
    }
}

/// Sets every thread of this process and of the processes named `names` to the CPUs
/// `cpus`, scanning again until a scan finds nothing left to change (a PostgreSQL backend
/// forked during a scan inherits the postmaster's CPUs from before or after it). Returns
/// the processes still elsewhere after five scans.
fn settle(names: &[&str], cpus: &str) -> Vec<u32> {
    let wanted = cpu_list(cpus);
    let elsewhere = || {
        processes(names)
            .into_iter()
            .filter(|&pid| thread_cpus(pid).iter().any(|set| *set != wanted))
            .collect::<Vec<_>>()
    };
    for _ in 0..5 {
        let left = elsewhere();
        if left.is_empty() {
            return left;
        }
        for pid in left {
            taskset(pid, cpus);
        }
    }
    elsewhere()
}

/// The CPUs each thread of `pid` may run on (none if it has exited).
fn thread_cpus(pid: u32) -> Vec<Vec<usize>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter_map(|task| {
            let status = std::fs::read_to_string(task.path().join("status")).ok()?;
            let list = status
                .lines()
                .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
            Some(cpu_list(list))
        })
        .collect()
}

/// A CPU list as `taskset` and /proc write it (`0-3,6`), expanded.
fn cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<usize>(), last.parse::<usize>()) {
            cpus.extend(first..=last);
        }
    }
    cpus
}

/// This process and the processes whose command name is one of `names`.
fn processes(names: &[&str]) -> Vec<u32> {
    let mut pids = vec![std::process::id()];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if names.contains(&comm.trim()) {
            pids.push(pid);
        }
    }
    pids
}

/// A process of `names` (or this one) with a thread that may run on fewer CPUs than `all`,
/// if any: the step would unpin it afterwards, so it does not run.
pub(super) fn pinned_already(names: &[&str], all: &str) -> Option<u32> {
    let all = cpu_list(all);
    processes(names)
        .into_iter()
        .find(|&pid| thread_cpus(pid).iter().any(|set| *set != all))
}

/// `taskset -a -p -c cpus pid`: every thread of `pid` on `cpus`; whether it worked.
fn taskset(pid: u32, cpus: &str) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Pins the calling thread (only) to `cpus`: `/proc/thread-self` names its thread id.
pub(super) fn pin_this_thread(cpus: &str) {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    let tid: u32 = link
        .file_name()
        .and_then(|tid| tid.to_str()?.parse().ok())
        .expect("thread id");
    assert!(
        std::process::Command::new("taskset")
            .args(["-p", "-c", cpus, &format!("{tid}")])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success()),
        "taskset could not pin a raw thread"
    );
}
