//! Reports from runner tasks on a multi-thread runtime (`Builder::runtime`).
//! Their polls run on worker threads, so the reports are made there: this
//! binary captures them with a global subscriber, shared by its tests, each
//! of which looks only for its own reports.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use runner::Runner;
use support::Capture;
use tokio::sync::oneshot;
use tracing::Level;

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::new();
        tracing::subscriber::set_global_default(capture.subscriber())
            .expect("no other global subscriber in this binary");
        capture
    })
}

fn multi_thread_runner(debug: bool) -> Runner {
    Runner::builder()
        .debug(debug)
        .runtime(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        })
        .build()
}

#[test]
fn lost_panic_on_a_worker_thread_is_reported_with_its_spawn_site() {
    let capture = capture();
    let mut runner = multi_thread_runner(false);
    let line = runner.run(async {
        let (gone, done) = oneshot::channel::<()>();
        let task = async move {
            let _gone = gone;
            tokio::task::yield_now().await;
            let worker = tokio::runtime::worker_index();
            panic!("lost on worker {worker:?}");
        };
        let (handle, line) = (runner::spawn(task), line!());
        drop(handle);
        done.await.unwrap_err();
        line
    });
    let line = line.unwrap();
    runner.close();
    let lost = capture.wait_for("lost on worker", Duration::from_secs(5));
    let lost = lost.expect("the lost panic is reported");
    assert_eq!(lost.level, Level::ERROR);
    assert!(
        lost.field("panic").starts_with("lost on worker Some("),
        "{lost:#?}"
    );
    assert!(lost.points_at(file!(), line), "{lost:#?}");
}

#[test]
fn slow_poll_on_a_worker_thread_is_reported_with_its_spawn_site() {
    let capture = capture();
    let mut runner = multi_thread_runner(true);
    let line = runner.run(async {
        let task = async {
            std::thread::sleep(Duration::from_millis(150));
            tokio::runtime::worker_index()
        };
        let (handle, line) = (runner::spawn(task), line!());
        assert!(handle.await.unwrap().is_some(), "polled on a worker");
        line
    });
    let line = line.unwrap();
    runner.close();
    let slow: Vec<_> = capture
        .reports_containing("slow poll")
        .into_iter()
        .filter(|r| r.points_at(file!(), line))
        .collect();
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].level, Level::WARN);
}
