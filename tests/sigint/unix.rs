//! The scenarios (Unix: real signals through `libc::kill`).

use std::fmt::Debug;
use std::future::{Future, pending};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::pin::{Pin, pin};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::FutureExt;

#[path = "../../examples/ctrl_c.rs"]
mod ctrl_c_example;
#[path = "../../examples/server.rs"]
mod server_example;

/// Names the scenario a child runs.
const SCENARIO_VAR: &str = "RUNNER_SIGINT_SCENARIO";
/// Repetitions of every scenario.
const REPS: usize = 20;
/// A child still alive this long after it started has hung: killed, failed.
const DEADLINE: Duration = Duration::from_secs(10);
/// Children running at once.
const PARALLEL: usize = 4;

const SIGINT: libc::c_int = libc::SIGINT;
const SIGTERM: libc::c_int = libc::SIGTERM;
const SIGQUIT: libc::c_int = libc::SIGQUIT;

/// One behaviour, shown by a child process.
struct Scenario {
    /// States the rule; also the value of `SCENARIO_VAR`.
    name: &'static str,
    /// What the child runs on its main thread.
    child: fn(),
    /// What the parent does, in order.
    script: &'static [Step],
    /// How the child must end.
    exit: Exit,
    /// Each chain's markers must appear in this order (a line matches a
    /// marker when it starts with it).
    order: &'static [&'static [&'static str]],
    /// Markers that must not appear.
    absent: &'static [&'static str],
}

/// A step of the parent's script.
#[derive(Debug)]
enum Step {
    /// Wait until the child prints this marker.
    Wait(&'static str),
    /// Pause for a time that depends on the repetition (0 to 4.75 ms), so
    /// that the signal lands at varied points.
    Pause,
    /// Send this signal to the child.
    Signal(libc::c_int),
    /// Write this line to the child's stdin.
    Send(&'static str),
    /// Wait until the child writes a line starting with this to stderr.
    WaitStderr(&'static str),
}

/// How a child must end.
#[derive(Debug, Clone, Copy)]
enum Exit {
    /// Exited with this status.
    Code(i32),
    /// Died of this signal.
    Signal(libc::c_int),
}

use Step::{Pause, Send, Signal, Wait, WaitStderr};

const INTERRUPTED: &str = "run returned Err(Interrupted)";
/// The child printed SIGINT's disposition (after a run: runner's handler,
/// installed once and disarmed, which acts as the default does).
const SIGINT_DISPOSITION: &str = "SIGINT disposition:";

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "first_ctrl_c_cancels_a_main_task_parked_on_an_await",
        child: child::parked_main_task,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[
            &[
                "ready",
                "awaited future dropped",
                "leftover task dropped",
                INTERRUPTED,
            ],
            &[
                "ready",
                "main task dropped",
                "leftover task dropped",
                INTERRUPTED,
            ],
        ],
        absent: &["main task finished"],
    },
    Scenario {
        name: "first_ctrl_c_cancels_a_main_task_that_only_yields",
        child: child::yielding_main_task,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "main task dropped",
            "leftover task dropped",
            INTERRUPTED,
        ]],
        absent: &[],
    },
    Scenario {
        name: "first_ctrl_c_cancels_the_main_task_on_a_multi_thread_runtime",
        child: child::multi_thread_runtime,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "main task dropped",
            INTERRUPTED,
            "leftover task dropped",
            "closed",
        ]],
        absent: &[],
    },
    Scenario {
        name: "ctrl_c_during_the_main_task_last_poll_is_not_lost",
        child: child::press_in_last_poll,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&["ready", "press seen in the last poll", INTERRUPTED]],
        absent: &["run returned Ok"],
    },
    Scenario {
        name: "second_ctrl_c_kills_a_stuck_loop",
        child: child::stuck_main_task,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Wait("first press seen"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[&["ready", "first press seen"]],
        absent: &["main task dropped", "run returned"],
    },
    Scenario {
        name: "second_ctrl_c_kills_while_close_waits_for_blocking_work",
        child: child::close_waits_for_blocking_work,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Wait("main task dropped"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[&["blocking work started", "ready", "main task dropped"]],
        absent: &["run returned"],
    },
    Scenario {
        name: "ctrl_c_after_run_returned_kills",
        child: child::after_run,
        script: &[
            Wait("run returned Ok(1)"),
            Wait(SIGINT_DISPOSITION),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[],
        absent: &["survived"],
    },
    Scenario {
        name: "ctrl_c_between_two_runs_of_one_runner_kills",
        child: child::between_runs,
        script: &[
            Wait("between runs"),
            Wait(SIGINT_DISPOSITION),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[],
        absent: &["survived"],
    },
    Scenario {
        name: "ctrl_c_after_an_interrupted_run_kills_between_runs",
        child: child::between_runs_after_interrupt,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Wait("between runs"),
            Wait(SIGINT_DISPOSITION),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[&["ready", INTERRUPTED, "between runs"]],
        absent: &["survived"],
    },
    Scenario {
        name: "a_runner_stays_usable_after_ctrl_c_and_counts_presses_afresh",
        child: child::runner_reused_after_interrupt,
        script: &[
            Wait("ready 1"),
            Pause,
            Signal(SIGINT),
            Wait("ready 2"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Code(0),
        order: &[&[
            "ready 1",
            INTERRUPTED,
            "ready 2",
            INTERRUPTED,
            "leftover task dropped",
            "closed",
        ]],
        absent: &[],
    },
    Scenario {
        name: "a_runner_on_another_thread_leaves_ctrl_c_alone",
        child: child::runner_on_another_thread,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Signal(SIGINT),
        order: &[],
        absent: &["run returned"],
    },
    Scenario {
        name: "handle_sigint_false_leaves_ctrl_c_alone",
        child: child::sigint_not_handled,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Signal(SIGINT),
        order: &[],
        absent: &["run returned"],
    },
    Scenario {
        name: "interrupted_never_completes_when_sigint_is_not_handled",
        child: child::interrupted_without_ownership,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "listener fired",
            "interrupted still pending",
            "run returned Ok(())",
        ]],
        absent: &["interrupted completed"],
    },
    Scenario {
        name: "interrupted_stays_pending_in_a_runner_that_does_not_own_sigint",
        child: child::interrupted_in_another_runner,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "main interrupted",
            "other runner: interrupted still pending",
            "run returned Ok(\"done\")",
        ]],
        absent: &["other runner: interrupted completed"],
    },
    Scenario {
        name: "an_ignored_sigint_stays_ignored",
        child: child::ignored_sigint,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Send("go"),
            Wait("run returned"),
            Pause,
            Signal(SIGINT),
            Send("go"),
        ],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "run returned Ok(\"finished\")",
            "SIGINT disposition: ignored",
            "still alive",
        ]],
        absent: &[],
    },
    Scenario {
        name: "interrupt_grace_lets_the_main_task_return_its_own_value",
        child: child::grace_returns_value,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&["ready", "interrupted seen", "run returned Ok(42)"]],
        absent: &[],
    },
    Scenario {
        name: "interrupt_grace_expiry_cancels_after_the_grace_not_before",
        child: child::grace_expires,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[
            &[
                "ready",
                "interrupted seen",
                "most of the grace has passed",
                "main task dropped",
                INTERRUPTED,
            ],
            &[
                "ready",
                "main task still running after the press",
                "main task dropped",
            ],
        ],
        absent: &[],
    },
    Scenario {
        name: "second_ctrl_c_during_the_grace_kills",
        child: child::grace_ignored,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Wait("interrupted seen"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[&["ready", "interrupted seen"]],
        absent: &["main task dropped", "run returned"],
    },
    // The program's own handler wins: rewritten for that rule (it used to
    // expect the first press to cancel the main task despite the listener).
    Scenario {
        name: "a_tokio_ctrl_c_listener_inside_the_run_gets_the_press_instead_of_the_runner",
        child: child::tokio_listener,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Wait("listening again"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "listener fired",
            "main task not cancelled",
            "run returned Ok(())",
            "listening again",
            "second press heard by the listener",
            "run returned Ok(())",
        ]],
        absent: &[INTERRUPTED, "main task dropped"],
    },
    Scenario {
        name: "ctrl_c_drops_the_main_task_inside_its_context",
        child: child::main_task_cleanup_sees_its_context,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "cleanup saw Some(1)",
            "cleanup in the runtime: true",
            INTERRUPTED,
            "after the run: None",
        ]],
        absent: &["cleanup saw None"],
    },
    Scenario {
        name: "ctrl_c_under_runner_main_with_scoped_values_exits_130_current_thread",
        child: child::scoped_values_under_runner_main_current_thread,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(130),
        order: &[&["ready", "cleanup saw Some(1)"]],
        absent: &["cleanup saw None"],
    },
    Scenario {
        name: "ctrl_c_under_runner_main_with_scoped_values_exits_130_multi_thread",
        child: child::scoped_values_under_runner_main_multi_thread,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(130),
        order: &[&["ready", "cleanup saw Some(1)"]],
        absent: &["cleanup saw None"],
    },
    Scenario {
        name: "a_server_that_drains_on_its_own_ctrl_c_exits_0_under_runner_main",
        child: child::server_under_runner_main,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "shutting down",
            "worker 0 drained",
            "all workers drained",
            "main returned Ok(())",
        ]],
        absent: &[INTERRUPTED],
    },
    Scenario {
        name: "the_same_server_under_a_raw_tokio_runtime_behaves_the_same",
        child: child::server_under_raw_tokio,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "shutting down",
            "worker 0 drained",
            "all workers drained",
            "main returned Ok(())",
        ]],
        absent: &[],
    },
    Scenario {
        name: "a_program_awaiting_ctrl_c_three_times_sees_three_presses",
        child: child::three_ctrl_c,
        script: &[
            Wait("waiting for press 1"),
            Pause,
            Signal(SIGINT),
            Wait("waiting for press 2"),
            Pause,
            Signal(SIGINT),
            Wait("waiting for press 3"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Code(0),
        order: &[&[
            "heard press 1",
            "heard press 2",
            "heard press 3",
            "run returned Ok(3)",
        ]],
        absent: &[INTERRUPTED],
    },
    Scenario {
        name: "a_press_before_the_program_installs_its_handler_cancels_one_after_is_the_programs",
        child: child::handler_installed_mid_run,
        script: &[
            Wait("phase 1"),
            Pause,
            Signal(SIGINT),
            Wait("listening"),
            Pause,
            Signal(SIGINT),
            Wait("heard press 1"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Code(0),
        order: &[&[
            "phase 1",
            "main task dropped",
            INTERRUPTED,
            "phase 1",
            "handler installed",
            "listening",
            "heard press 1",
            "heard press 2",
            "run returned Ok(\"done\")",
        ]],
        absent: &[],
    },
    Scenario {
        name: "in_debug_mode_a_second_ctrl_c_prints_the_task_dump_then_kills",
        child: child::stuck_main_task_debug,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Wait("first press seen"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[
            &[
                "ready",
                "first press seen",
                "stderr: runner: a second Ctrl-C kills the process",
            ],
            // The dump: the busy main task, and under it the idle one, each
            // with its site.
            &[
                "stderr: runner: a second Ctrl-C kills the process",
                "stderr:   `main` run at tests/sigint/unix.rs:",
                "stderr:     `idle-worker` (id ",
            ],
        ],
        absent: &["main task dropped", "run returned"],
    },
    Scenario {
        name: "in_debug_mode_sigquit_prints_the_task_dump_and_the_program_goes_on",
        child: child::sigquit_in_debug_mode,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGQUIT),
            WaitStderr("runner: SIGQUIT"),
            Send("go"),
        ],
        exit: Exit::Code(0),
        order: &[
            &["ready", "main task finished", "run returned Ok(\"done\")"],
            // The dump: the main task, and under it the idle one, each with
            // its site.
            &[
                "stderr: runner: SIGQUIT: the tasks of the runner run at tests/sigint/unix.rs:",
                "stderr:   `main` run at tests/sigint/unix.rs:",
                "stderr:     `idle-worker` (id ",
            ],
        ],
        absent: &[],
    },
    Scenario {
        name: "outside_debug_mode_sigquit_keeps_its_default",
        child: child::sigquit_outside_debug_mode,
        script: &[Wait("ready"), Pause, Signal(SIGQUIT)],
        exit: Exit::Signal(SIGQUIT),
        order: &[],
        absent: &["run returned", "stderr: runner: SIGQUIT"],
    },
    Scenario {
        name: "sigquit_is_given_back_to_its_default_when_the_debug_runner_closes",
        child: child::sigquit_after_close,
        script: &[Wait("SIGQUIT disposition:"), Pause, Signal(SIGQUIT)],
        exit: Exit::Signal(SIGQUIT),
        order: &[&[
            "run returned Ok(1)",
            "closed",
            "SIGQUIT disposition: default",
        ]],
        absent: &["survived", "stderr: runner: SIGQUIT"],
    },
    Scenario {
        name: "the_server_example_drains_its_connections_and_exits_0",
        child: child::server_example_with_two_clients,
        // Both connections echoed a line: their handlers run, and listen.
        script: &[Wait("both clients echoed"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[
            &[
                "listening on",
                "connection 2 open",
                "shutting down",
                "connection 1 said goodbye",
                "drained 2 connection(s)",
            ],
            &[
                "shutting down",
                "connection 2 said goodbye",
                "drained 2 connection(s)",
            ],
        ],
        absent: &["not drained", "while draining"],
    },
    Scenario {
        name: "a_main_task_that_listens_awaits_its_cleanup_on_ctrl_c_then_run_reports_the_interrupt",
        child: child::listening_main_task,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "cancellation seen",
            "cleanup awaited",
            "main task dropped",
            INTERRUPTED,
        ]],
        absent: &["main task finished"],
    },
    Scenario {
        name: "a_main_task_that_listens_is_dropped_when_its_cancel_grace_ends",
        child: child::listening_main_task_too_slow,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "cancellation seen",
            "main task dropped",
            INTERRUPTED,
        ]],
        absent: &["cleanup awaited"],
    },
    Scenario {
        name: "a_second_ctrl_c_kills_a_main_task_awaiting_its_cleanup",
        child: child::listening_main_task_too_slow,
        script: &[
            Wait("ready"),
            Pause,
            Signal(SIGINT),
            Wait("cancellation seen"),
            Pause,
            Signal(SIGINT),
        ],
        exit: Exit::Signal(SIGINT),
        order: &[&["ready", "cancellation seen"]],
        absent: &["main task dropped", "run returned"],
    },
    Scenario {
        name: "a_tokio_ctrl_c_listener_in_the_main_task_fires_within_the_grace",
        child: child::tokio_listener_with_grace,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&["ready", "run returned Ok(\"heard\")"]],
        absent: &[],
    },
    Scenario {
        name: "blocking_work_sees_the_runs_interrupt_token_cancelled_by_ctrl_c",
        child: child::blocking_work_with_the_token,
        script: &[Wait("ready"), Pause, Signal(SIGINT)],
        exit: Exit::Code(0),
        order: &[&[
            "ready",
            "the blocking work saw the press",
            "run returned Ok(\"drained\")",
        ]],
        absent: &[],
    },
    Scenario {
        name: "handle_sigterm_makes_sigterm_cancel_like_ctrl_c",
        child: child::sigterm_handled,
        script: &[Wait("ready"), Pause, Signal(SIGTERM)],
        exit: Exit::Code(0),
        order: &[&["ready", "main task dropped", INTERRUPTED]],
        absent: &[],
    },
    Scenario {
        name: "sigterm_kills_when_not_handled",
        child: child::sigterm_not_handled,
        script: &[Wait("ready"), Pause, Signal(SIGTERM)],
        exit: Exit::Signal(SIGTERM),
        order: &[],
        absent: &["run returned"],
    },
    Scenario {
        name: "the_ctrl_c_example_cleans_up_and_exits_130",
        child: ctrl_c_example::main,
        script: &[Wait("tick 1"), Pause, Signal(SIGINT)],
        exit: Exit::Code(130),
        order: &[&["tick 1", "cleanup: ", "goodbye"]],
        absent: &["done"],
    },
];

/// The press-loop test (not a scripted scenario): see `presses`.
const PRESS_LOOP: &str = "every_press_into_back_to_back_warm_runs_is_handled_or_fatal";

pub(super) fn main() {
    if let Ok(name) = std::env::var(SCENARIO_VAR) {
        if name == PRESS_LOOP {
            child::back_to_back_warm_runs();
        } else {
            child::start(&name);
        }
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for s in SCENARIOS {
            println!("{}: test", s.name);
        }
        println!("{PRESS_LOOP}: test");
        return;
    }
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let chosen: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f)))
        .collect();
    // The press loop first, so that the summary line stays the last one and
    // counts it.
    let press_loop =
        (filters.is_empty() || filters.iter().any(|f| PRESS_LOOP.contains(f))).then(presses::run);
    std::process::exit(parent::run_all(&chosen, press_loop));
}

/// One SIGINT at a spread-out moment into a child doing back-to-back warm
/// runs of one `Runner` with SIGTERM handling on, over and over: each press
/// must either be handled (a run returns `Interrupted`) or be fatal (it
/// landed between runs, where Ctrl-C acts as the default: the child dies of
/// SIGINT). A press that is neither is lost (regression: arming the two
/// signals one after the other could overwrite a press that came in
/// between).
mod presses {
    use super::*;

    /// Presses in all.
    const PRESSES: usize = 800;
    /// A press neither handled nor fatal within this long is lost.
    const LOST_AFTER: Duration = Duration::from_secs(2);

    /// What became of the presses.
    #[derive(Debug, Default)]
    struct Tally {
        handled: usize,
        fatal: usize,
        lost: usize,
        problems: Vec<String>,
    }

    /// A child doing warm runs, and its stdout lines.
    struct Child {
        process: std::process::Child,
        lines: mpsc::Receiver<String>,
    }

    impl Child {
        fn start() -> Result<Child, String> {
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            let mut process = Command::new(exe)
                .env(SCENARIO_VAR, PRESS_LOOP)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("spawn: {e}"))?;
            let stdout = process.stdout.take().expect("stdout is piped");
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let child = Child { process, lines };
            match child.lines.recv_timeout(DEADLINE) {
                Ok(line) if line == "ready" => Ok(child),
                other => Err(format!("the child did not get ready: {other:?}")),
            }
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }

    /// Presses `count` times (press `first + k` waits a spread-out time
    /// first), restarting the child after each fatal press.
    fn press(first: usize, count: usize) -> Tally {
        let mut tally = Tally::default();
        let mut child: Option<Child> = None;
        for press in first..first + count {
            let current = match child.take() {
                Some(child) => child,
                None => match Child::start() {
                    Ok(child) => child,
                    Err(why) => {
                        tally.problems.push(why);
                        return tally;
                    }
                },
            };
            // 0 to 2 ms, in steps that are not a multiple of a run's length.
            std::thread::sleep(Duration::from_micros((press as u64 * 7_919) % 2_000));
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is
            // our own child, not yet reaped.
            let rc = unsafe { libc::kill(current.process.id() as libc::pid_t, SIGINT) };
            if rc != 0 {
                tally
                    .problems
                    .push(format!("kill: {}", std::io::Error::last_os_error()));
                return tally;
            }
            match current.lines.recv_timeout(LOST_AFTER) {
                Ok(line) if line == "handled" => {
                    tally.handled += 1;
                    child = Some(current);
                }
                Ok(line) => tally.problems.push(format!("unexpected line {line:?}")),
                Err(RecvTimeoutError::Disconnected) => {
                    let mut current = current;
                    match current.process.wait() {
                        Ok(status) if status.signal() == Some(SIGINT) => tally.fatal += 1,
                        status => tally
                            .problems
                            .push(format!("press {press}: the child ended with {status:?}")),
                    }
                }
                Err(RecvTimeoutError::Timeout) => tally.lost += 1,
            }
        }
        tally
    }

    /// Runs the loop; prints its verdict and returns whether it passed.
    pub(super) fn run() -> bool {
        let started = Instant::now();
        let share = PRESSES / PARALLEL;
        let tallies: Vec<Tally> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..PARALLEL)
                .map(|i| scope.spawn(move || press(i * share, share)))
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("press worker"))
                .collect()
        });
        let mut all = Tally::default();
        for tally in tallies {
            all.handled += tally.handled;
            all.fatal += tally.fatal;
            all.lost += tally.lost;
            all.problems.extend(tally.problems);
        }
        let ok = all.lost == 0 && all.problems.is_empty() && all.handled + all.fatal == PRESSES;
        println!(
            "test {PRESS_LOOP} ... {} ({} presses: {} handled, {} fatal, {} lost; {:.1}s)",
            if ok { "ok" } else { "FAILED" },
            PRESSES,
            all.handled,
            all.fatal,
            all.lost,
            started.elapsed().as_secs_f64(),
        );
        for problem in &all.problems {
            println!("---- {PRESS_LOOP}: {problem}");
        }
        ok
    }
}

/// The parent: runs the children and judges them.
mod parent {
    use super::*;

    /// Runs every scenario `REPS` times; returns the exit status.
    /// `press_loop`: whether the press loop passed, if it ran.
    pub(super) fn run_all(scenarios: &[&Scenario], press_loop: Option<bool>) -> i32 {
        let started = Instant::now();
        println!(
            "running {} sigint scenarios, {REPS} repetitions each, {PARALLEL} children at a time",
            scenarios.len()
        );
        let jobs: Vec<(usize, usize)> = (0..REPS)
            .flat_map(|rep| (0..scenarios.len()).map(move |s| (s, rep)))
            .collect();
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL {
                let tx = tx.clone();
                let (jobs, next) = (&jobs, &next);
                scope.spawn(move || {
                    while let Some(&(s, rep)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let outcome = run_once(scenarios[s], rep);
                        if tx.send((s, rep, outcome)).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        drop(tx);
        let mut passed = vec![0usize; scenarios.len()];
        let mut failures = Vec::new();
        for (s, rep, outcome) in rx {
            match outcome {
                Ok(()) => passed[s] += 1,
                Err(why) => {
                    failures.push(format!("{} (repetition {rep}): {why}", scenarios[s].name))
                }
            }
        }
        for (s, scenario) in scenarios.iter().enumerate() {
            let verdict = if passed[s] == REPS { "ok" } else { "FAILED" };
            println!(
                "test {} ... {verdict} ({}/{REPS} repetitions passed)",
                scenario.name, passed[s]
            );
        }
        for failure in &failures {
            println!("\n---- {failure}");
        }
        let failed = scenarios
            .iter()
            .enumerate()
            .filter(|(s, _)| passed[*s] != REPS)
            .count()
            + usize::from(press_loop == Some(false));
        let ran = scenarios.len() + usize::from(press_loop.is_some());
        println!(
            "\ntest result: {}. {} passed; {failed} failed; {} child processes in {:.1}s",
            if failed == 0 { "ok" } else { "FAILED" },
            ran - failed,
            jobs.len(),
            started.elapsed().as_secs_f64(),
        );
        i32::from(failed != 0)
    }

    /// One repetition of one scenario.
    fn run_once(scenario: &Scenario, rep: usize) -> Result<(), String> {
        let started = Instant::now();
        let deadline = started + DEADLINE;
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .env(SCENARIO_VAR, scenario.name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let mut stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (line_tx, lines_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, err_rx) = mpsc::channel();
        let err_reader = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(&mut stderr).lines() {
                let Ok(line) = line else { break };
                text.push_str(&line);
                text.push('\n');
                let _ = err_tx.send(line);
            }
            text
        });
        let mut err_lines = Vec::new();

        let mut lines = Vec::new();
        let mut failure = None;
        for step in scenario.script {
            let done = match step {
                Step::Wait(marker) => wait_for(&lines_rx, &mut lines, marker, deadline),
                Step::Pause => {
                    std::thread::sleep(Duration::from_micros(250 * rep as u64));
                    Ok(())
                }
                Step::Signal(sig) => {
                    // SAFETY: kill(2) has no memory-safety preconditions; the
                    // pid is our own child, not yet reaped, so it cannot have
                    // been reused.
                    let rc = unsafe { libc::kill(child.id() as libc::pid_t, *sig) };
                    if rc == 0 {
                        Ok(())
                    } else {
                        Err(format!("kill: {}", std::io::Error::last_os_error()))
                    }
                }
                Step::Send(line) => match stdin.as_mut().map(|s| writeln!(s, "{line}")) {
                    Some(Ok(())) => Ok(()),
                    _ => Err(format!("could not write {line:?} to the child")),
                },
                Step::WaitStderr(marker) => wait_for(&err_rx, &mut err_lines, marker, deadline),
            };
            if let Err(why) = done {
                failure = Some(format!("step {step:?}: {why}"));
                break;
            }
        }

        let status = if failure.is_some() {
            let _ = child.kill();
            child.wait().ok()
        } else {
            wait_with_deadline(&mut child, deadline)
        };
        drop(stdin);
        let _ = reader.join();
        lines.extend(lines_rx.try_iter());
        let stderr = err_reader.join().unwrap_or_default();
        // Judged with the stdout lines, marked as stderr's.
        lines.extend(stderr.lines().map(|line| format!("stderr: {line}")));

        let verdict = match (failure, status) {
            (Some(why), _) => Err(why),
            (None, None) => Err(format!("no exit within {DEADLINE:?}: killed")),
            (None, Some(status)) => judge(scenario, status, &lines),
        };
        verdict.map_err(|why| {
            format!(
                "{why}\n     stdout: {lines:?}\n     stderr: {:?}\n     after {:?}",
                stderr.trim(),
                started.elapsed()
            )
        })
    }

    /// Reads the child's lines until `marker` (or the deadline, or EOF).
    fn wait_for(
        rx: &mpsc::Receiver<String>,
        lines: &mut Vec<String>,
        marker: &str,
        deadline: Instant,
    ) -> Result<(), String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line.starts_with(marker);
                    lines.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no {marker:?} within {DEADLINE:?}"));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("stdout closed before {marker:?}"));
                }
            }
        }
    }

    /// Waits for the child's exit; kills it (and returns `None`) at the
    /// deadline.
    fn wait_with_deadline(
        child: &mut std::process::Child,
        deadline: Instant,
    ) -> Option<ExitStatus> {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }

    /// Checks the exit and the markers.
    fn judge(scenario: &Scenario, status: ExitStatus, lines: &[String]) -> Result<(), String> {
        let ended_right = match scenario.exit {
            Exit::Code(code) => status.code() == Some(code),
            Exit::Signal(sig) => status.signal() == Some(sig),
        };
        if !ended_right {
            return Err(format!("expected {:?}, got {status}", scenario.exit));
        }
        for chain in scenario.order {
            let mut rest = lines.iter();
            for marker in *chain {
                if !rest.any(|line| line.starts_with(marker)) {
                    return Err(format!("markers out of order or missing: {chain:?}"));
                }
            }
        }
        for marker in scenario.absent {
            if lines.iter().any(|line| line.starts_with(marker)) {
                return Err(format!("unexpected {marker:?}"));
            }
        }
        Ok(())
    }
}

/// The children: each function runs one scenario on the main thread.
mod child {
    use super::*;

    /// Runs the scenario `name` with the default dispositions for the
    /// signals under test, whatever the parent inherited (a test started in
    /// the background by a non-interactive shell gets SIGINT ignored).
    pub(super) fn start(name: &str) {
        for sig in [SIGINT, SIGTERM, SIGQUIT] {
            // SAFETY: setting a standard signal to its default action, before
            // any other thread of this process exists.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
        // A child that dies of SIGQUIT leaves no core file.
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `no_core` is a valid rlimit, read by the call only.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
        match SCENARIOS.iter().find(|s| s.name == name) {
            Some(scenario) => (scenario.child)(),
            None => panic!("unknown scenario {name:?}"),
        }
    }

    /// Prints a marker.
    fn say(marker: &str) {
        println!("{marker}");
    }

    fn report<T: Debug>(result: Result<T, runner::Error>) {
        say(&format!("run returned {result:?}"));
    }

    /// Prints SIGINT's current disposition.
    fn say_sigint_disposition() {
        say_disposition(SIGINT, "SIGINT");
    }

    /// Prints the current disposition of `sig`, called `name`.
    fn say_disposition(sig: libc::c_int, name: &str) {
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a null new action only queries; `old` is valid for writes.
        let rc = unsafe { libc::sigaction(sig, std::ptr::null(), old.as_mut_ptr()) };
        assert_eq!(rc, 0, "sigaction query");
        // SAFETY: zero-initialised, then filled in by sigaction.
        let action = unsafe { old.assume_init() }.sa_sigaction;
        let what = match action {
            libc::SIG_DFL => "default",
            libc::SIG_IGN => "ignored",
            _ => "a handler",
        };
        say(&format!("{name} disposition: {what}"));
    }

    /// Prints its marker when dropped.
    struct Noisy(&'static str);

    impl Drop for Noisy {
        fn drop(&mut self) {
            say(self.0);
        }
    }

    /// A future that never completes and says when it is dropped.
    struct Parked;

    impl Future for Parked {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }

    impl Drop for Parked {
        fn drop(&mut self) {
            say("awaited future dropped");
        }
    }

    /// A task left pending when the main task ends, whose drop is seen.
    /// The guard is made here, not in the task, so it exists even if the
    /// task is never polled.
    fn spawn_leftover() {
        let guard = Noisy("leftover task dropped");
        runner::spawn_local(async move {
            let _guard = guard;
            pending::<()>().await
        });
    }

    /// Registers a `tokio::signal::ctrl_c()` listener now (it registers on
    /// its first poll), so that a press from now on reaches it.
    fn ctrl_c_listener() -> Pin<Box<impl Future<Output = std::io::Result<()>>>> {
        let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
        assert!(ctrl_c.as_mut().now_or_never().is_none(), "no press yet");
        ctrl_c
    }

    /// Busy-waits (no `.await`) until a press was handled.
    fn spin_until_interrupted() {
        while runner::interrupted().now_or_never().is_none() {
            std::hint::spin_loop();
        }
    }

    static SCOPED: runner::ContextVar<u32> = runner::ContextVar::new("scoped");

    /// Says what the main task's context holds when its cleanup runs, and
    /// sets a value there that must not leak out.
    struct SeesContext;

    impl Drop for SeesContext {
        fn drop(&mut self) {
            say(&format!("cleanup saw {:?}", SCOPED.get()));
            // Still inside the loop: cleanup may use the runtime.
            let in_runtime = tokio::runtime::Handle::try_current().is_ok();
            say(&format!("cleanup in the runtime: {in_runtime}"));
            SCOPED.set(99);
        }
    }

    /// A main task with a scoped value and a cleanup that reads it, parked.
    async fn scoped_and_parked() {
        let _scoped = SCOPED.set_scoped(1);
        let _cleanup = SeesContext;
        say("ready");
        Parked.await;
    }

    pub(super) fn main_task_cleanup_sees_its_context() {
        report(runner::run(scoped_and_parked()));
        say(&format!("after the run: {:?}", SCOPED.get()));
    }

    pub(super) fn scoped_values_under_runner_main_current_thread() {
        runner::__private::main(runner::__private::Args::DEFAULT, scoped_and_parked());
    }

    pub(super) fn scoped_values_under_runner_main_multi_thread() {
        let args = runner::__private::Args {
            flavor: Some(runner::__private::Flavor::MultiThread),
            ..runner::__private::Args::DEFAULT
        };
        runner::__private::main(args, scoped_and_parked());
    }

    pub(super) fn parked_main_task() {
        report(runner::run(async {
            let _guard = Noisy("main task dropped");
            spawn_leftover();
            say("ready");
            Parked.await;
            say("main task finished");
        }));
    }

    pub(super) fn yielding_main_task() {
        report(runner::run(async {
            let _guard = Noisy("main task dropped");
            spawn_leftover();
            say("ready");
            loop {
                tokio::task::yield_now().await;
            }
        }));
    }

    pub(super) fn multi_thread_runtime() {
        let mut runner = runner::Runner::builder()
            .runtime(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
            })
            .build();
        report(runner.run(async {
            let _guard = Noisy("main task dropped");
            let guard = Noisy("leftover task dropped");
            runner::spawn(async move {
                let _guard = guard;
                pending::<()>().await
            });
            say("ready");
            Parked.await
        }));
        runner.close();
        say("closed");
    }

    pub(super) fn press_in_last_poll() {
        report(runner::run(async {
            say("ready");
            spin_until_interrupted();
            say("press seen in the last poll");
            7
        }));
    }

    pub(super) fn stuck_main_task() {
        report(runner::run(async {
            let _guard = Noisy("main task dropped");
            say("ready");
            spin_until_interrupted();
            say("first press seen");
            loop {
                std::hint::spin_loop();
            }
        }));
    }

    pub(super) fn close_waits_for_blocking_work() {
        report(runner::run(async {
            let _guard = Noisy("main task dropped");
            let (started_tx, started_rx) = tokio::sync::oneshot::channel();
            runner::spawn_blocking(move || {
                let _ = started_tx.send(());
                loop {
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            let _ = started_rx.await;
            say("blocking work started");
            say("ready");
            pending::<()>().await
        }));
    }

    pub(super) fn after_run() {
        report(runner::run(async { 1 }));
        say_sigint_disposition();
        std::thread::sleep(Duration::from_secs(3));
        say("survived");
    }

    pub(super) fn between_runs() {
        let mut runner = runner::Runner::new();
        report(runner.run(async { 1 }));
        say("between runs");
        say_sigint_disposition();
        std::thread::sleep(Duration::from_secs(3));
        report(runner.run(async { 2 }));
        say("survived");
    }

    pub(super) fn between_runs_after_interrupt() {
        let mut runner = runner::Runner::new();
        report(runner.run(async {
            say("ready");
            pending::<()>().await
        }));
        say("between runs");
        say_sigint_disposition();
        std::thread::sleep(Duration::from_secs(3));
        report(runner.run(async { 2 }));
        say("survived");
    }

    pub(super) fn runner_reused_after_interrupt() {
        let mut runner = runner::Runner::new();
        report(runner.run(async {
            spawn_leftover();
            say("ready 1");
            pending::<()>().await
        }));
        report(runner.run(async {
            say("ready 2");
            pending::<()>().await
        }));
        runner.close();
        say("closed");
    }

    pub(super) fn runner_on_another_thread() {
        let thread = std::thread::spawn(|| {
            report(runner::run(async {
                say("ready");
                pending::<()>().await
            }));
        });
        let _ = thread.join();
    }

    pub(super) fn sigint_not_handled() {
        let mut runner = runner::Runner::builder().handle_sigint(false).build();
        report(runner.run(async {
            say("ready");
            pending::<()>().await
        }));
    }

    pub(super) fn interrupted_without_ownership() {
        let mut runner = runner::Runner::builder().handle_sigint(false).build();
        report(runner.run(async {
            let ctrl_c = ctrl_c_listener();
            let mut interrupted = pin!(runner::interrupted());
            say("ready");
            tokio::select! {
                _ = interrupted.as_mut() => say("interrupted completed"),
                heard = ctrl_c => {
                    heard.expect("ctrl_c listener");
                    say("listener fired");
                }
            }
            tokio::select! {
                _ = interrupted => say("interrupted completed"),
                _ = tokio::time::sleep(Duration::from_millis(50)) => say("interrupted still pending"),
            }
        }));
    }

    /// A second runner, on another thread, watches `interrupted()` while the
    /// main thread's runner is interrupted: the press is not its own.
    pub(super) fn interrupted_in_another_runner() {
        let (told_tx, told_rx) = tokio::sync::oneshot::channel::<()>();
        let other = std::thread::spawn(move || {
            runner::run(async move {
                let mut interrupted = pin!(runner::interrupted());
                told_rx.await.expect("main runner tells");
                tokio::select! {
                    biased;
                    _ = interrupted.as_mut() => say("other runner: interrupted completed"),
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {
                        say("other runner: interrupted still pending");
                    }
                }
            })
            .expect("other runner");
        });
        let mut runner = runner::Runner::builder()
            .interrupt_grace(Duration::from_secs(5))
            .build();
        report(runner.run(async move {
            say("ready");
            runner::interrupted().await;
            say("main interrupted");
            told_tx.send(()).expect("other runner listens");
            runner::spawn_blocking(move || other.join().expect("other runner thread"))
                .await
                .expect("join");
            "done"
        }));
    }

    /// Reads a line from stdin without blocking the loop.
    async fn read_line() -> String {
        runner::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            line
        })
        .await
        .expect("reading stdin")
    }

    pub(super) fn ignored_sigint() {
        // SAFETY: ignoring SIGINT, as `nohup` does, before other threads exist.
        unsafe { libc::signal(SIGINT, libc::SIG_IGN) };
        report(runner::run(async {
            say("ready");
            read_line().await;
            "finished"
        }));
        say_sigint_disposition();
        let _ = std::io::stdin().read_line(&mut String::new());
        say("still alive");
    }

    pub(super) fn grace_returns_value() {
        let mut runner = runner::Runner::builder()
            .interrupt_grace(Duration::from_secs(5))
            .build();
        report(runner.run(async {
            say("ready");
            runner::interrupted().await;
            say("interrupted seen");
            42
        }));
    }

    pub(super) fn grace_expires() {
        const GRACE: Duration = Duration::from_millis(600);
        // Sure to end before the grace does: the grace starts when the main
        // task sees the press, this when a task woken by the same press does,
        // and the two wake-ups are far closer than the margin (200 ms).
        const MOST_OF_GRACE: Duration = Duration::from_millis(400);
        let mut runner = runner::Runner::builder().interrupt_grace(GRACE).build();
        report(runner.run(async {
            let _guard = Noisy("main task dropped");
            runner::spawn_local(async {
                runner::interrupted().await;
                say("interrupted seen");
                tokio::time::sleep(MOST_OF_GRACE).await;
                say("most of the grace has passed");
            });
            say("ready");
            let mut said = false;
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if !said && runner::interrupted().now_or_never().is_some() {
                    say("main task still running after the press");
                    said = true;
                }
            }
        }));
    }

    pub(super) fn grace_ignored() {
        let mut runner = runner::Runner::builder()
            .interrupt_grace(Duration::from_secs(5))
            .build();
        report(runner.run(async {
            let _guard = Noisy("main task dropped");
            runner::spawn_local(async {
                runner::interrupted().await;
                say("interrupted seen");
            });
            say("ready");
            pending::<()>().await
        }));
    }

    pub(super) fn tokio_listener() {
        let mut runner = runner::Runner::new();
        report(runner.run(async {
            let ctrl_c = ctrl_c_listener();
            let listener = runner::spawn_local(async move {
                ctrl_c.await.expect("ctrl_c listener");
                say("listener fired");
            });
            say("ready");
            listener.await.expect("listener task");
            say("main task not cancelled");
        }));
        // The handler stays the program's in later runs too.
        report(runner.run(async {
            let ctrl_c = ctrl_c_listener();
            say("listening again");
            ctrl_c.await.expect("ctrl_c listener");
            say("second press heard by the listener");
        }));
    }

    /// A server's shape: workers, and a main that waits for Ctrl-C with
    /// Tokio's own listener, then tells the workers to stop and waits for
    /// them to drain. The same code under `#[runner::main]` and under a raw
    /// Tokio runtime (`#[tokio::main]`).
    async fn server_like() -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let workers: Vec<_> = (0..3)
            .map(|i| {
                let mut stop = stop_rx.clone();
                tokio::spawn(async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                    // Draining takes a while.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    say(&format!("worker {i} drained"));
                })
            })
            .collect();
        let ctrl_c = ctrl_c_listener();
        say("ready");
        ctrl_c.await?;
        say("shutting down");
        let _ = stop_tx.send(true);
        for worker in workers {
            worker.await?;
        }
        say("all workers drained");
        Ok(())
    }

    pub(super) fn server_under_runner_main() {
        let result = runner::__private::main(runner::__private::Args::DEFAULT, server_like());
        say(&format!("main returned {result:?}"));
    }

    pub(super) fn server_under_raw_tokio() {
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(server_like());
        say(&format!("main returned {result:?}"));
    }

    pub(super) fn three_ctrl_c() {
        report(runner::run(async {
            let mut heard = 0;
            for press in 1..=3 {
                let ctrl_c = ctrl_c_listener();
                say(&format!("waiting for press {press}"));
                ctrl_c.await.expect("ctrl_c listener");
                say(&format!("heard press {press}"));
                heard += 1;
            }
            heard
        }));
    }

    /// A main task that installs its own SIGINT handler after a first phase
    /// (`first_phase`) with none.
    async fn phased(first_phase: impl Future<Output = ()>) -> &'static str {
        use tokio::signal::unix::{SignalKind, signal};
        let _guard = Noisy("main task dropped");
        say("phase 1");
        first_phase.await;
        let mut sigint = signal(SignalKind::interrupt()).expect("a SIGINT listener");
        say("handler installed");
        say("listening");
        sigint.recv().await;
        say("heard press 1");
        sigint.recv().await;
        say("heard press 2");
        "done"
    }

    pub(super) fn handler_installed_mid_run() {
        let mut runner = runner::Runner::new();
        // The press lands in the first phase: runner's, as before.
        report(runner.run(phased(pending())));
        // The handler is installed during the run: the presses are its.
        report(runner.run(phased(tokio::task::yield_now())));
    }

    pub(super) fn stuck_main_task_debug() {
        let mut runner = runner::Runner::builder().debug(true).build();
        report(runner.run(async {
            let _guard = Noisy("main task dropped");
            let (_keep, wait) = tokio::sync::oneshot::channel::<()>();
            let idle = runner::task::Builder::new().name("idle-worker");
            drop(idle.spawn_local(wait).expect("spawn"));
            tokio::task::yield_now().await;
            say("ready");
            spin_until_interrupted();
            say("first press seen");
            loop {
                std::hint::spin_loop();
            }
        }));
    }

    /// The server example, with two clients connected from a plain thread
    /// that keep their connections open until the server closes them.
    pub(super) fn server_example_with_two_clients() {
        server_example::serve(|addr| {
            std::thread::spawn(move || {
                let mut clients: Vec<_> = (0..2)
                    .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
                    .collect();
                for client in &mut clients {
                    client.write_all(b"ping\n").expect("send");
                    let mut echoed = [0; 5];
                    client.read_exact(&mut echoed).expect("echo");
                }
                say("both clients echoed");
                for mut client in clients {
                    let _ = client.read_to_end(&mut Vec::new());
                }
            });
        });
    }

    /// A main task that listens for cancellation: on Ctrl-C it awaits its
    /// cleanup (`slow` makes the cleanup outlast the cancel grace).
    async fn listening_main(slow: bool) {
        let _guard = Noisy("main task dropped");
        tokio::select! {
            () = runner::task::cancelled() => {}
            () = async { say("ready"); Parked.await } => {}
        }
        say("cancellation seen");
        let cleanup = if slow {
            Duration::from_secs(3600)
        } else {
            Duration::from_millis(10)
        };
        tokio::time::sleep(cleanup).await;
        say("cleanup awaited");
    }

    pub(super) fn listening_main_task() {
        report(runner::run(listening_main(false)));
    }

    pub(super) fn listening_main_task_too_slow() {
        let mut runner = runner::Runner::builder()
            .cancel_grace(Duration::from_millis(100))
            .build();
        report(runner.run(listening_main(true)));
    }

    pub(super) fn tokio_listener_with_grace() {
        let mut runner = runner::Runner::builder()
            .interrupt_grace(Duration::from_secs(5))
            .build();
        report(runner.run(async {
            let ctrl_c = ctrl_c_listener();
            say("ready");
            ctrl_c.await.expect("ctrl_c listener");
            "heard"
        }));
    }

    /// Blocking work (asyncio's `to_thread`) that waits on the run's
    /// interrupt token, which a press cancels.
    pub(super) fn blocking_work_with_the_token() {
        let mut runner = runner::Runner::builder()
            .interrupt_grace(Duration::from_secs(5))
            .build();
        report(runner.run(async {
            let work = runner::spawn_blocking(|| {
                let token = runner::interrupt_token();
                say("ready");
                while !token.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                say("the blocking work saw the press");
            });
            work.await.expect("the blocking work");
            "drained"
        }));
    }

    pub(super) fn sigterm_handled() {
        let mut runner = runner::Runner::builder().handle_sigterm(true).build();
        report(runner.run(async {
            let _guard = Noisy("main task dropped");
            say("ready");
            pending::<()>().await
        }));
    }

    /// Back-to-back warm runs of one runner that also handles SIGTERM,
    /// saying when a run was interrupted (see `presses`).
    pub(super) fn back_to_back_warm_runs() {
        for sig in [SIGINT, SIGTERM] {
            // SAFETY: as in `start`.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
        let mut runner = runner::Runner::builder().handle_sigterm(true).build();
        say("ready");
        loop {
            if let Err(runner::Error::Interrupted) = runner.run(async { std::hint::black_box(1) }) {
                say("handled");
            }
        }
    }

    /// A debug-mode run on the main thread: SIGQUIT prints the dump, and the
    /// main task goes on until it reads a line.
    pub(super) fn sigquit_in_debug_mode() {
        let mut runner = runner::Runner::builder().debug(true).build();
        report(runner.run(async {
            let (_keep, wait) = tokio::sync::oneshot::channel::<()>();
            let idle = runner::task::Builder::new().name("idle-worker");
            let idle = idle.spawn_local(wait).expect("spawn");
            tokio::task::yield_now().await;
            say("ready");
            read_line().await;
            say("main task finished");
            idle.abort();
            "done"
        }));
    }

    pub(super) fn sigquit_outside_debug_mode() {
        let mut runner = runner::Runner::builder().debug(false).build();
        report(runner.run(async {
            say("ready");
            read_line().await;
        }));
    }

    pub(super) fn sigquit_after_close() {
        let mut runner = runner::Runner::builder().debug(true).build();
        report(runner.run(async { 1 }));
        runner.close();
        say("closed");
        say_disposition(SIGQUIT, "SIGQUIT");
        std::thread::sleep(Duration::from_secs(3));
        say("survived");
    }

    pub(super) fn sigterm_not_handled() {
        report(runner::run(async {
            say("ready");
            pending::<()>().await
        }));
    }
}
