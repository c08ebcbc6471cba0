//! Step one: the attribute's arguments, checked, into a [`Config`].
//!
//! Every argument is declared once, in the [`arguments!`] table at the end of
//! this file: its name, the kind of literal it takes (a [`Value`] type), which
//! attribute accepts it and its default there, and where it goes in the
//! generated code. The `Config` struct, the lists of valid names in the
//! errors, the parse dispatch and the settings expansion writes all follow
//! from the table; a unit test checks that the attributes' docs list every
//! accepted argument with its default. Every check and every error message
//! lives here or in `values.rs`; `expand.rs` trusts the `Config` it gets.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::{Lit, Meta, Path};

use crate::values::{Flavor, Given, Name, Threads, Timeout, UnhandledPanic, Value};

/// Which attribute is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    pub(crate) fn macro_name(self) -> &'static str {
        match self {
            Kind::Main => "runner::main",
            Kind::Test => "runner::test",
        }
    }
}

/// Whether an attribute accepts an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accept {
    /// Accepted; `default` is what applies when it is not given, written as
    /// the attribute's docs write it.
    Yes { default: &'static str },
    /// Rejected; `why` is added to the "Unknown attribute" error.
    No { why: &'static str },
}

/// Where an argument goes in the generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Nowhere: it is the path to `runner` itself.
    Crate,
    /// The field of the same name in `runner::__private::Args`.
    Field,
    /// A call of this method on the Tokio runtime builder.
    Runtime(&'static str),
    /// A call of this method on `runner::Builder`.
    Runner(&'static str),
}

/// What the errors and the docs need of a row of the table.
#[derive(Debug)]
pub(crate) struct Argument {
    /// As written in the attribute.
    pub(crate) name: &'static str,
    pub(crate) main: Accept,
    pub(crate) test: Accept,
}

impl Argument {
    pub(crate) fn accept(&self, kind: Kind) -> Accept {
        match kind {
            Kind::Main => self.main,
            Kind::Test => self.test,
        }
    }

    fn find(name: &str) -> Option<&'static Argument> {
        ARGUMENTS.iter().find(|arg| arg.name == name)
    }
}

/// One setting for the generated code: where it goes, the value, and the
/// span to give the code that applies it (the literal's, when given).
pub(crate) struct Setting {
    pub(crate) name: &'static str,
    pub(crate) target: Target,
    pub(crate) value: TokenStream,
    pub(crate) span: Span,
}

/// `None`, or `Some` of the one expression given.
macro_rules! optional {
    () => {
        None
    };
    ($value:expr) => {
        Some($value)
    };
}

/// Declares the arguments: each row is
///
/// ```text
/// /// What it is.
/// field "name": ValueType => Target,
///     main: Accept [=> value applied when not given],
///     test: Accept [=> value applied when not given];
/// ```
///
/// and generates [`Config`] (one `Option<Given<ValueType>>` per row),
/// [`ARGUMENTS`], `Config::set` (the parse dispatch) and `Config::settings`.
macro_rules! arguments {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident $name:literal: $ty:ty => $target:expr,
            main: $main:expr $(=> $main_value:expr)?,
            test: $test:expr $(=> $test_value:expr)?;
    )*) => {
        /// The checked arguments, each with the span of its literal:
        /// everything expansion needs. `Config::default()` is what a bad
        /// attribute still expands with, so that editors keep working.
        #[derive(Default)]
        pub(crate) struct Config {
            $( $(#[doc = $doc])* pub(crate) $field: Option<Given<$ty>>, )*
        }

        /// Every argument, in the order the errors list them.
        pub(crate) const ARGUMENTS: &[Argument] = &[
            $( Argument { name: $name, main: $main, test: $test }, )*
        ];

        impl Config {
            /// Parses `lit` as the value of the argument `name`, once.
            fn set(&mut self, name: &str, lit: &Lit) -> syn::Result<()> {
                match name {
                    $( $name => set_once(&mut self.$field, name, lit), )*
                    _ => Err(syn::Error::new(lit.span(), format!("Unknown attribute {name}"))),
                }
            }

            /// What the generated code applies, in table order: each
            /// argument given, and each value the attribute applies when it
            /// is not given. `krate` is the path to `runner`.
            pub(crate) fn settings(&self, kind: Kind, krate: &TokenStream) -> Vec<Setting> {
                let mut settings = Vec::new();
                $({
                    let unset: Option<$ty> = match kind {
                        Kind::Main => optional!($($main_value)?),
                        Kind::Test => optional!($($test_value)?),
                    };
                    let value = match (&self.$field, unset) {
                        (Some(given), _) => Some((given.value.tokens(krate), given.span)),
                        (None, Some(value)) => Some((value.tokens(krate), Span::call_site())),
                        (None, None) => None,
                    };
                    if let Some((value, span)) = value {
                        settings.push(Setting { name: $name, target: $target, value, span });
                    }
                })*
                settings
            }
        }
    };
}

arguments! {
    /// Which Tokio runtime runs under the loop.
    flavor "flavor": Flavor => Target::Field,
        main: Accept::Yes { default: "`\"current_thread\"`" },
        test: Accept::Yes { default: "`\"current_thread\"`" };
    /// The worker pool's size (multi-thread only).
    worker_threads "worker_threads": Threads => Target::Runtime("worker_threads"),
        main: Accept::Yes { default: "Tokio's (one per core)" },
        test: Accept::Yes { default: "Tokio's (one per core)" };
    /// Tokio's clock starts paused (current-thread only; `false` is dropped
    /// by the checks, so that it never needs Tokio's `test-util`).
    start_paused "start_paused": bool => Target::Runtime("start_paused"),
        main: Accept::Yes { default: "`false`" },
        test: Accept::Yes { default: "`false`" };
    /// Where to find `runner`.
    crate_path "crate": Path => Target::Crate,
        main: Accept::Yes { default: "`\"::runner\"`" },
        test: Accept::Yes { default: "`\"::runner\"`" };
    /// The runtime's name.
    name "name": Name => Target::Runtime("name"),
        main: Accept::Yes { default: "none" },
        test: Accept::Yes { default: "none" };
    /// Debug mode.
    debug "debug": bool => Target::Runner("debug"),
        main: Accept::Yes { default: "`RUNNER_DEBUG`" },
        test: Accept::No { why: "tests always run in debug mode" } => true;
    /// The test watchdog's limit, on the real clock.
    timeout "timeout": Timeout => Target::Field,
        main: Accept::No { why: "`timeout` only applies to `#[runner::test]`" },
        test: Accept::Yes { default: "none" };
    /// How long closing waits for blocking work.
    shutdown_timeout "shutdown_timeout": Duration => Target::Runner("shutdown_timeout"),
        main: Accept::Yes { default: "`\"300s\"`" },
        test: Accept::Yes { default: "`\"300s\"`" };
    /// How long a task that listens may finish after a cancellation request.
    cancel_grace "cancel_grace": Duration => Target::Runner("cancel_grace"),
        main: Accept::Yes { default: "`\"30s\"`" },
        test: Accept::Yes { default: "`\"30s\"`" };
    /// How long the main task may finish on its own after Ctrl-C.
    interrupt_grace "interrupt_grace": Duration => Target::Runner("interrupt_grace"),
        main: Accept::Yes { default: "`\"0s\"`" },
        test: Accept::No { why: SIGNALS };
    /// Whether Ctrl-C cancels the main task.
    handle_sigint "handle_sigint": bool => Target::Runner("handle_sigint"),
        main: Accept::Yes { default: "`true`" },
        test: Accept::No { why: SIGNALS } => false;
    /// Whether SIGTERM is treated as Ctrl-C.
    handle_sigterm "handle_sigterm": bool => Target::Runner("handle_sigterm"),
        main: Accept::Yes { default: "`false`" },
        test: Accept::No { why: SIGNALS } => false;
    /// What a task panic that nobody can retrieve does.
    unhandled_panic "unhandled_panic": UnhandledPanic => Target::Runner("lost_panic"),
        main: Accept::Yes { default: "`\"ignore\"`" },
        test: Accept::Yes { default: "`\"shutdown_runtime\"`" } => UnhandledPanic::ShutdownRuntime;
}

const SIGNALS: &str = "tests never handle signals; this only applies to `#[runner::main]`";

/// Parses and checks the attribute's arguments.
pub(crate) fn build(kind: Kind, args: impl IntoIterator<Item = Meta>) -> syn::Result<Config> {
    let mut config = Config::default();
    for arg in args {
        match arg {
            Meta::NameValue(nv) => {
                let name = ident_of(&nv.path)?;
                let lit = match &nv.value {
                    syn::Expr::Lit(syn::ExprLit { lit, .. }) => lit,
                    expr => return Err(syn::Error::new_spanned(expr, "Must be a literal")),
                };
                if !accepts(kind, &name) {
                    return Err(syn::Error::new_spanned(&nv, unknown(kind, &name)));
                }
                config.set(&name, lit)?;
            }
            Meta::Path(path) => {
                let name = ident_of(&path)?;
                let macro_name = kind.macro_name();
                let msg = match name.as_str() {
                    "threaded_scheduler" | "multi_thread" => format!(
                        "Set the runtime flavor with #[{macro_name}(flavor = \"multi_thread\")]."
                    ),
                    "basic_scheduler" | "current_thread" | "single_threaded" => format!(
                        "Set the runtime flavor with #[{macro_name}(flavor = \"current_thread\")]."
                    ),
                    name if accepts(kind, name) => {
                        format!("The `{name}` attribute requires an argument.")
                    }
                    name => unknown(kind, name),
                };
                return Err(syn::Error::new_spanned(path, msg));
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "Unknown attribute inside the macro",
                ));
            }
        }
    }
    config.check(kind)?;
    Ok(config)
}

fn set_once<T: Value>(field: &mut Option<Given<T>>, name: &str, lit: &Lit) -> syn::Result<()> {
    let value = T::parse(lit, name)?;
    if field.is_some() {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{name}` set multiple times."),
        ));
    }
    *field = Some(Given {
        value,
        span: lit.span(),
    });
    Ok(())
}

fn accepts(kind: Kind, name: &str) -> bool {
    Argument::find(name).is_some_and(|arg| matches!(arg.accept(kind), Accept::Yes { .. }))
}

fn ident_of(path: &Path) -> syn::Result<String> {
    match path.get_ident() {
        Some(ident) => Ok(ident.to_string().to_lowercase()),
        // `crate` is a keyword, so it is not an `Ident` to syn.
        None if path.is_ident("crate") => Ok("crate".into()),
        None if path.leading_colon.is_none()
            && path.segments.len() == 1
            && path.segments[0].ident == "crate" =>
        {
            Ok("crate".into())
        }
        None => Err(syn::Error::new_spanned(path, "Must have specified ident")),
    }
}

fn unknown(kind: Kind, name: &str) -> String {
    let valid: Vec<String> = ARGUMENTS
        .iter()
        .filter(|arg| matches!(arg.accept(kind), Accept::Yes { .. }))
        .map(|arg| format!("`{}`", arg.name))
        .collect();
    let why = match (Argument::find(name).map(|arg| arg.accept(kind)), name) {
        (Some(Accept::No { why }), _) => format!(" ({why})"),
        (_, "core_threads") => " (`core_threads` is renamed to `worker_threads`)".to_owned(),
        _ => String::new(),
    };
    format!(
        "Unknown attribute {name} is specified{why}; expected one of: {}.",
        valid.join(", ")
    )
}

impl Config {
    /// The checks between arguments.
    fn check(&mut self, kind: Kind) -> syn::Result<()> {
        let macro_name = kind.macro_name();
        let flavor = self
            .flavor
            .as_ref()
            .map_or(Flavor::CurrentThread, |f| f.value);
        if let (Flavor::CurrentThread, Some(threads)) = (flavor, &self.worker_threads) {
            return Err(syn::Error::new(
                threads.span,
                format!(
                    "The `worker_threads` option requires the `multi_thread` runtime flavor. \
                     Use `#[{macro_name}(flavor = \"multi_thread\")]`"
                ),
            ));
        }
        match (flavor, &self.start_paused) {
            (Flavor::MultiThread, Some(paused)) => {
                return Err(syn::Error::new(
                    paused.span,
                    format!(
                        "The `start_paused` option requires the `current_thread` runtime \
                         flavor. Use `#[{macro_name}(flavor = \"current_thread\")]`"
                    ),
                ));
            }
            // Tokio's default: nothing to apply, and no need for `test-util`.
            (_, Some(paused)) if !paused.value => self.start_paused = None,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{ARGUMENTS, Accept, Kind};

    /// The doc comment of `pub fn {name}` in lib.rs.
    fn docs_of(name: &str) -> Vec<&'static str> {
        let lib = include_str!("lib.rs");
        let end = lib
            .find(&format!("pub fn {name}("))
            .expect("the attribute's function");
        let mut docs: Vec<&str> = lib[..end]
            .lines()
            .rev()
            .skip_while(|line| !line.starts_with("///"))
            .take_while(|line| line.starts_with("///"))
            .collect();
        docs.reverse();
        docs
    }

    /// The arguments in the docs' table, with their defaults.
    fn documented(kind: Kind) -> Vec<(String, String)> {
        let name = match kind {
            Kind::Main => "main",
            Kind::Test => "test",
        };
        docs_of(name)
            .into_iter()
            .filter_map(|line| line.strip_prefix("/// | `"))
            .map(|row| {
                let cells: Vec<&str> = row.split(" | ").collect();
                let argument = cells[0].split([' ', '`']).next().unwrap_or_default();
                (
                    argument.to_owned(),
                    cells[1].trim_end_matches(" |").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn the_docs_list_every_accepted_argument_with_its_default() {
        for kind in [Kind::Main, Kind::Test] {
            let expected: Vec<(String, String)> = ARGUMENTS
                .iter()
                .filter_map(|arg| match arg.accept(kind) {
                    Accept::Yes { default } => Some((arg.name.to_owned(), default.to_owned())),
                    Accept::No { .. } => None,
                })
                .collect();
            assert_eq!(documented(kind), expected, "{kind:?}");
        }
    }
}
