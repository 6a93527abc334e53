//! Progress of the long commands (`reprocess`, `redrive-dlq`, `table erase`, `table compact`):
//! a bar on a terminal (indicatif), one plain line per step otherwise, so a log or a CI job
//! reads what happened in order. Always on standard error: standard output carries the
//! command's result (JSON), which a script may parse.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// One command's progress over `total` steps (0 when unknown: a live count).
pub struct Progress {
    bar: Option<ProgressBar>,
    what: String,
    done: u64,
    total: u64,
}

impl Progress {
    /// A bar when standard error is a terminal, plain lines otherwise.
    pub fn new(what: &str, total: u64) -> Progress {
        Progress::with_terminal(what, total, std::io::stderr().is_terminal())
    }

    /// As [`Progress::new`], saying whether to draw a bar.
    pub fn with_terminal(what: &str, total: u64, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = if total > 0 {
                ProgressBar::new(total)
            } else {
                ProgressBar::new_spinner()
            };
            let template = if total > 0 {
                "{prefix} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}"
            } else {
                "{prefix} {spinner} {pos} {elapsed} {wide_msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            bar
        });
        Progress {
            bar,
            what: what.to_string(),
            done: 0,
            total,
        }
    }

    /// One step done; `line` says which and how it ended.
    pub fn step(&mut self, line: &str) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(line.to_string());
            }
            None => eprintln!("{}", self.plain(line)),
        }
    }

    /// A note that is not a step (a phase starting), shown above the bar or as a line.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("{}: {line}", self.what)),
            None => eprintln!("{}: {line}", self.what),
        }
    }

    /// Steps done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// The plain line of a step: `what 3/10: line` (`what 3: line` when the total is
    /// unknown).
    pub fn plain(&self, line: &str) -> String {
        if self.total > 0 {
            format!("{} {}/{}: {line}", self.what, self.done, self.total)
        } else {
            format!("{} {}: {line}", self.what, self.done)
        }
    }

    /// Ends the bar (a terminal keeps its last state).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// A command's progress over the phases a table operation reports
/// ([`lakeline_table::Observer`]): each phase its own bar (or its own numbered lines).
pub struct Phases {
    command: String,
    current: Option<Progress>,
}

impl Phases {
    /// Progress of `command` (`table erase`, `table compact`).
    pub fn new(command: &str) -> Phases {
        Phases {
            command: command.to_string(),
            current: None,
        }
    }

    /// Ends the last phase's bar.
    pub fn finish(&self) {
        if let Some(p) = &self.current {
            p.finish();
        }
    }
}

impl lakeline_table::Observer for Phases {
    fn phase(&mut self, what: &str, total: u64) {
        self.finish();
        self.current = Some(Progress::new(&format!("{} {what}", self.command), total));
    }

    fn step(&mut self, line: &str) {
        if let Some(p) = &mut self.current {
            p.step(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_count_steps_against_the_total_when_known() {
        let mut p = Progress::with_terminal("reprocess", 3, false);
        p.step("a.csv: replaced");
        assert_eq!(
            p.plain("b.csv: unchanged"),
            "reprocess 1/3: b.csv: unchanged"
        );
        let mut live = Progress::with_terminal("redrive-dlq", 0, false);
        live.step("m1");
        live.step("m2");
        assert_eq!(live.done(), 2);
        assert_eq!(live.plain("m3"), "redrive-dlq 2: m3");
    }
}
