//! `tracing` spans follow spawned tasks: `runner::spawn`, `spawn_local` and
//! `spawn_blocking` run the new task inside the span current where it was
//! spawned (and a blocking closure with the spawner's subscriber), unless
//! the runner opts out with `Builder::inherit_span(false)`.

use std::sync::{Arc, Mutex};

use runner::Runner;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// An event's message and the names of the spans it is in, innermost first.
type Seen = (String, Vec<String>);

/// Each event, as seen.
#[derive(Clone, Default)]
struct Scopes(Arc<Mutex<Vec<Seen>>>);

impl Scopes {
    /// Runs `f` with a subscriber that records into this, as the thread's
    /// default.
    fn during<R>(&self, f: impl FnOnce() -> R) -> R {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }

    /// The spans the event whose message is `message` was in.
    fn of(&self, message: &str) -> Vec<String> {
        let events = self.0.lock().unwrap();
        match events.iter().find(|(m, _)| m == message) {
            Some((_, spans)) => spans.clone(),
            None => panic!("no event {message:?} in {events:?}"),
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Scopes {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let spans = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name().to_owned()).collect())
            .unwrap_or_default();
        self.0.lock().unwrap().push((message.0, spans));
    }
}

fn runner(inherit: bool) -> Runner {
    Runner::builder()
        .handle_sigint(false)
        .inherit_span(inherit)
        .build()
}

/// Spawns one task of each kind inside the span `request`, each logging an
/// event, and awaits them.
async fn spawn_each_kind_in_a_span() {
    let (spawned, local, blocking) = tracing::info_span!("request").in_scope(|| {
        (
            runner::spawn(async { tracing::info!("in spawn") }),
            runner::spawn_local(async { tracing::info!("in spawn_local") }),
            runner::spawn_blocking(|| tracing::info!("in spawn_blocking")),
        )
    });
    spawned.await.unwrap();
    local.await.unwrap();
    blocking.await.unwrap();
}

#[test]
fn each_kind_of_spawned_task_runs_in_the_spawners_span() {
    let scopes = Scopes::default();
    scopes.during(|| runner(true).run(spawn_each_kind_in_a_span()).unwrap());
    for kind in ["spawn", "spawn_local", "spawn_blocking"] {
        assert_eq!(scopes.of(&format!("in {kind}")), ["request"], "{kind}");
    }
}

#[test]
fn a_task_spawned_by_a_task_runs_in_the_span_it_inherited() {
    let scopes = Scopes::default();
    scopes.during(|| {
        runner(true)
            .run(async {
                let outer = tracing::info_span!("outer").in_scope(|| {
                    runner::spawn_local(async {
                        tracing::info_span!("inner")
                            .in_scope(|| runner::spawn_local(async { tracing::info!("nested") }))
                            .await
                            .unwrap();
                        runner::spawn_local(async { tracing::info!("sibling") })
                            .await
                            .unwrap();
                    })
                });
                outer.await.unwrap();
            })
            .unwrap()
    });
    assert_eq!(scopes.of("nested"), ["inner", "outer"]);
    assert_eq!(scopes.of("sibling"), ["outer"]);
}

#[test]
fn inherit_span_false_runs_tasks_outside_the_spawners_span() {
    let scopes = Scopes::default();
    scopes.during(|| runner(false).run(spawn_each_kind_in_a_span()).unwrap());
    for kind in ["spawn", "spawn_local"] {
        assert!(scopes.of(&format!("in {kind}")).is_empty(), "{kind}");
    }
    // The blocking closure ran with the pool thread's own default
    // subscriber (none here), so this one never saw its event.
    let events = scopes.0.lock().unwrap();
    assert!(
        events.iter().all(|(m, _)| m != "in spawn_blocking"),
        "{events:?}"
    );
}

#[test]
fn a_task_spawned_outside_any_span_runs_outside_any_span() {
    let scopes = Scopes::default();
    scopes.during(|| {
        runner(true)
            .run(async {
                runner::spawn(async { tracing::info!("no span") })
                    .await
                    .unwrap();
            })
            .unwrap()
    });
    assert!(scopes.of("no span").is_empty());
}
