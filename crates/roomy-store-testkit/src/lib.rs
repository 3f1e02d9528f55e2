//! The store contract: the behaviour every [`Store`] must show, so SQLite and
//! PostgreSQL are held to exactly the same rules. Each backend crate runs it
//! from a `harness = false` test target whose `main` is one call,
//! `roomy_store_testkit::run(fresh)` (see [`run`]), with `fresh` an async
//! function that opens a fresh store.
//!
//! # Adding a check
//!
//! Write it as a private `async fn name(store: &impl Store)` in the module of
//! its area (`chat`, `social`, `invites`, `lifecycle`, `files`) and add
//! `Check::new("name", name)` to that module's `checks()` list, next to the
//! functions. The functions are private on purpose: one left out of its list
//! is never used, so rustc's `dead_code` warning names it and the workspace's
//! `cargo clippy -- -D warnings` fails. A check cannot be written and
//! silently never run.

use libtest_mimic::{Arguments, Trial};
use roomy_store::Store;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

mod chat;
mod files;
mod invites;
mod lifecycle;
mod social;

/// A check's future; not `Send`, since each check runs on its own
/// current-thread runtime.
type CheckFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A check's body with its future boxed, so checks of different types fit one list.
type CheckBody<S> = Box<dyn for<'a> Fn(&'a S) -> CheckFuture<'a> + Send + Sync>;

/// One contract check: the test's name and the function it runs.
pub(crate) struct Check<S> {
    name: &'static str,
    body: CheckBody<S>,
}

/// An async function of a borrowed store, as the checks are written. A
/// trait rather than a plain `Fn` bound, because the future's type depends
/// on the borrow's lifetime and `Fn` alone cannot say so.
pub(crate) trait CheckFn<'a, S: 'a>: Send + Sync + 'static {
    /// The check's future for one borrow of the store.
    type Future: Future<Output = ()> + 'a;
    /// Starts the check on `store`.
    fn call(&self, store: &'a S) -> Self::Future;
}

impl<'a, S: 'a, F, Fut> CheckFn<'a, S> for F
where
    F: Fn(&'a S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'a,
{
    type Future = Fut;
    fn call(&self, store: &'a S) -> Fut {
        self(store)
    }
}

impl<S: Store> Check<S> {
    /// A check named `name` (its function's name, by convention) that runs `body`.
    pub(crate) fn new<F>(name: &'static str, body: F) -> Self
    where
        F: for<'a> CheckFn<'a, S>,
    {
        Self {
            name,
            body: boxed(move |store| Box::pin(body.call(store))),
        }
    }
}

/// Fixes the closure's signature to the higher-ranked one [`CheckBody`] needs,
/// which the compiler would not infer through `Box::new` alone.
fn boxed<S, C>(body: C) -> CheckBody<S>
where
    C: for<'a> Fn(&'a S) -> CheckFuture<'a> + Send + Sync + 'static,
{
    Box::new(body)
}

/// Every check of the contract, module by module.
fn all<S: Store>() -> Vec<Check<S>> {
    let mut checks = chat::checks();
    checks.extend(social::checks());
    checks.extend(invites::checks());
    checks.extend(lifecycle::checks());
    checks.extend(files::checks());
    checks
}

/// Runs the contract as a test binary: one test per check, named after it,
/// with the standard harness's command line (name filters, `--exact`,
/// `--list`, `--ignored`, `--test-threads`). Each check gets its own store
/// from `fresh` and its own current-thread tokio runtime, as `#[tokio::test]`
/// gives.
///
/// `fresh` yields `None` when the backend is absent (PostgreSQL without a
/// configured server): it is asked once before the run, and when it says
/// `None` every check is reported as ignored instead of run. A panic in
/// `fresh` (a required service missing) fails the run.
pub fn run<S, F, Fut>(fresh: F) -> ExitCode
where
    S: Store,
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: Future<Output = Option<S>>,
{
    let args = Arguments::from_args();
    let checks = all::<S>();
    let mut names = HashSet::new();
    if let Some(check) = checks.iter().find(|c| !names.insert(c.name)) {
        eprintln!("error: two contract checks are named {}", check.name);
        return ExitCode::FAILURE;
    }
    // Listing runs nothing, so it needs no store.
    let present = if args.list {
        true
    } else {
        match runtime() {
            Ok(rt) => rt.block_on(async { fresh().await.is_some() }),
            Err(e) => {
                eprintln!("error: cannot build a tokio runtime: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let trials = checks
        .into_iter()
        .map(|check| {
            let fresh = fresh.clone();
            Trial::test(check.name, move || {
                let rt = runtime().map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
                rt.block_on(async {
                    // Absent only when run with `--include-ignored`: nothing to check.
                    if let Some(store) = fresh().await {
                        (check.body)(&store).await;
                    }
                });
                Ok(())
            })
            .with_ignored_flag(!present)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// A runtime like the one `#[tokio::test]` builds by default.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
