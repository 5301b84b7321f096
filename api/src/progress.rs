//! Progress of the long command-line operations (`replay`, `verify`): a bar with the rate and
//! the time left when standard error is a terminal (`indicatif`), plain lines every few
//! seconds otherwise (a log collector, a CI job), so a long run always says where it is.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is written when there is no terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// One operation's progress, in `unit`s (events).
pub struct Progress {
    what: String,
    unit: &'static str,
    bar: Option<ProgressBar>,
    /// Without a terminal: when the operation (re)started and when the last line was written.
    lines: Mutex<Lines>,
}

struct Lines {
    /// What is being done now: the operation and its stage.
    label: String,
    started: Instant,
    written: Option<Instant>,
    done: u64,
    total: u64,
}

impl Progress {
    /// A bar at a terminal, lines otherwise.
    pub fn new(what: impl Into<String>, unit: &'static str) -> Self {
        Self::with_terminal(what, unit, std::io::stderr().is_terminal())
    }

    fn with_terminal(what: impl Into<String>, unit: &'static str, terminal: bool) -> Self {
        let what = what.into();
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{msg}} {{bar:40}} {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{eta}} left)"
                ))
                .expect("a valid template"),
            );
            bar.set_message(what.clone());
            bar
        });
        Self {
            what: what.clone(),
            unit,
            bar,
            lines: Mutex::new(Lines {
                label: what,
                started: Instant::now(),
                written: None,
                done: 0,
                total: 0,
            }),
        }
    }

    /// Names what is being done now (a projection of several), starting its count again.
    pub fn stage(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} {what}", self.what));
            bar.reset();
        }
        let mut lines = self.lines.lock().expect("progress lines");
        if lines.written.is_some() || lines.done > 0 {
            self.write_line(&lines, true);
        }
        *lines = Lines {
            label: format!("{} {what}", self.what),
            started: Instant::now(),
            written: None,
            done: 0,
            total: 0,
        };
    }

    /// A rebuild's progress: its projection as the stage.
    pub fn replay(&self, step: projections::replay::Progress<'_>) {
        let stage = format!("{} {}", self.what, step.projection);
        let current = self.lines.lock().expect("progress lines").label.clone();
        if current != stage {
            self.stage(step.projection);
        }
        self.update(step.done.max(0) as u64, step.total.max(0) as u64);
    }

    /// `done` of `total` so far.
    pub fn update(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            return;
        }
        let mut lines = self.lines.lock().expect("progress lines");
        lines.done = done;
        lines.total = total;
        if lines.written.is_none_or(|at| at.elapsed() >= LINE_EVERY) {
            lines.written = Some(Instant::now());
            self.write_line(&lines, false);
        }
    }

    /// Clears the bar (the caller prints the result).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn write_line(&self, lines: &Lines, last: bool) {
        eprintln!("{}", self.line(lines, last));
    }

    fn line(&self, lines: &Lines, last: bool) -> String {
        let elapsed = lines.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            lines.done as f64 / elapsed
        } else {
            0.0
        };
        let left = if last || lines.done >= lines.total {
            String::new()
        } else if rate > 0.0 {
            format!(", {:.0} s left", (lines.total - lines.done) as f64 / rate)
        } else {
            ", time left unknown".to_owned()
        };
        format!(
            "{}: {}/{} {} ({:.0}/s{left})",
            lines.label, lines.done, lines.total, self.unit, rate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_terminal_a_line_says_how_far_how_fast_and_how_long() {
        let progress = Progress::with_terminal("replay", "events", false);
        let lines = Lines {
            label: "replay groups".into(),
            started: Instant::now() - Duration::from_secs(10),
            written: None,
            done: 2_000,
            total: 10_000,
        };
        let line = progress.line(&lines, false);
        assert!(
            line.starts_with("replay groups: 2000/10000 events ("),
            "{line}"
        );
        let rate: f64 = line
            .split('(')
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|rate| rate.parse().ok())
            .expect("a rate");
        assert!((150.0..=200.0).contains(&rate), "{line}");
        assert!(line.ends_with(" s left)"), "{line}");
        let done = Lines {
            done: 10_000,
            ..lines
        };
        assert!(progress.line(&done, false).ends_with("/s)"));
    }
}
