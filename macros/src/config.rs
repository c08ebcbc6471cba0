//! Step one: the attribute's arguments, checked, into a [`Config`].
//!
//! Every check and every error message lives here; `expand.rs` trusts the
//! `Config` it gets. Where an argument means what it means for
//! `#[tokio::main]`/`#[tokio::test]`, the wording follows tokio-macros.

use std::time::Duration;

use proc_macro2::Span;
use syn::{Lit, Meta, Path};

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

impl Kind {
    fn macro_name(self) -> &'static str {
        match self {
            Kind::Main => "runner::main",
            Kind::Test => "runner::test",
        }
    }

    /// The arguments this attribute accepts, in the order the error lists them.
    fn valid(self) -> &'static [&'static str] {
        match self {
            Kind::Main => &[
                "flavor",
                "worker_threads",
                "start_paused",
                "crate",
                "name",
                "debug",
                "shutdown_timeout",
                "interrupt_grace",
                "handle_sigint",
                "handle_sigterm",
            ],
            Kind::Test => &[
                "flavor",
                "worker_threads",
                "start_paused",
                "crate",
                "name",
                "timeout",
                "shutdown_timeout",
            ],
        }
    }
}

/// The runtime flavour, as tokio names it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    fn from_str(s: &str) -> Result<Flavor, String> {
        match s {
            // Every runner loop is a `LocalSet` on the calling thread, which is
            // what tokio's `local` flavour provides.
            "current_thread" | "local" => Ok(Flavor::CurrentThread),
            "multi_thread" => Ok(Flavor::MultiThread),
            "single_thread" => {
                Err("The single threaded runtime flavor is called `current_thread`.".to_string())
            }
            "basic_scheduler" => Err(
                "The `basic_scheduler` runtime flavor has been renamed to `current_thread`."
                    .to_string(),
            ),
            "threaded_scheduler" => Err(
                "The `threaded_scheduler` runtime flavor has been renamed to `multi_thread`."
                    .to_string(),
            ),
            _ => Err(format!(
                "No such runtime flavor `{s}`. The runtime flavors are `current_thread`, \
                 `local`, and `multi_thread`."
            )),
        }
    }
}

/// The checked arguments: everything expansion needs.
pub(crate) struct Config {
    pub(crate) flavor: Flavor,
    pub(crate) worker_threads: Option<usize>,
    /// With the span of its literal, so that a missing tokio `test-util`
    /// feature is reported there.
    pub(crate) start_paused: Option<Span>,
    pub(crate) crate_path: Option<Path>,
    pub(crate) name: Option<String>,
    pub(crate) debug: Option<bool>,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) interrupt_grace: Option<Duration>,
    pub(crate) handle_sigint: Option<bool>,
    pub(crate) handle_sigterm: Option<bool>,
    pub(crate) timeout: Option<Duration>,
}

impl Config {
    /// What a bad attribute still expands with, so editors keep working.
    pub(crate) const FALLBACK: Config = Config {
        flavor: Flavor::CurrentThread,
        worker_threads: None,
        start_paused: None,
        crate_path: None,
        name: None,
        debug: None,
        shutdown_timeout: None,
        interrupt_grace: None,
        handle_sigint: None,
        handle_sigterm: None,
        timeout: None,
    };
}

/// The arguments as given, each with the span of its literal.
#[derive(Default)]
struct Args {
    flavor: Option<(Flavor, Span)>,
    worker_threads: Option<(usize, Span)>,
    start_paused: Option<(bool, Span)>,
    crate_path: Option<Path>,
    name: Option<String>,
    debug: Option<bool>,
    shutdown_timeout: Option<Duration>,
    interrupt_grace: Option<Duration>,
    handle_sigint: Option<bool>,
    handle_sigterm: Option<bool>,
    timeout: Option<Duration>,
}

/// Parses and checks the attribute's arguments.
pub(crate) fn build(
    kind: Kind,
    args: impl IntoIterator<Item = Meta>,
) -> Result<Config, syn::Error> {
    let mut given = Args::default();
    for arg in args {
        match arg {
            Meta::NameValue(nv) => {
                let name = ident_of(&nv.path)?;
                let lit = match &nv.value {
                    syn::Expr::Lit(syn::ExprLit { lit, .. }) => lit,
                    expr => return Err(syn::Error::new_spanned(expr, "Must be a literal")),
                };
                if !kind.valid().contains(&name.as_str()) {
                    return Err(syn::Error::new_spanned(&nv, unknown(kind, &name)));
                }
                given.set(&name, lit)?;
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
                    name if kind.valid().contains(&name) => {
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
    given.check(kind)
}

fn ident_of(path: &Path) -> Result<String, syn::Error> {
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
    let valid: Vec<String> = kind.valid().iter().map(|v| format!("`{v}`")).collect();
    let other = match (kind, name) {
        (Kind::Main, "timeout") => " (`timeout` only applies to `#[runner::test]`)",
        (Kind::Test, "debug") => " (tests always run in debug mode)",
        (Kind::Test, "interrupt_grace" | "handle_sigint" | "handle_sigterm") => {
            " (tests never handle signals; this only applies to `#[runner::main]`)"
        }
        (_, "core_threads") => " (`core_threads` is renamed to `worker_threads`)",
        _ => "",
    };
    format!(
        "Unknown attribute {name} is specified{other}; expected one of: {}.",
        valid.join(", ")
    )
}

impl Args {
    fn set(&mut self, name: &str, lit: &Lit) -> Result<(), syn::Error> {
        let span = lit.span();
        let twice = || syn::Error::new(span, format!("`{name}` set multiple times."));
        macro_rules! once {
            ($field:ident, $value:expr) => {{
                if self.$field.is_some() {
                    return Err(twice());
                }
                self.$field = Some($value);
            }};
        }
        match name {
            "flavor" => {
                let s = parse_string(lit, name)?;
                let flavor = Flavor::from_str(&s).map_err(|e| syn::Error::new(span, e))?;
                once!(flavor, (flavor, span));
            }
            "worker_threads" => {
                let n = parse_int(lit, name)?;
                if n == 0 {
                    return Err(syn::Error::new(span, "`worker_threads` may not be 0."));
                }
                once!(worker_threads, (n, span));
            }
            "start_paused" => once!(start_paused, (parse_bool(lit, name)?, span)),
            "crate" => once!(crate_path, parse_path(lit, name)?),
            "name" => {
                let s = parse_string(lit, name)?;
                if s.trim().is_empty() {
                    return Err(syn::Error::new(span, "`name` may not be empty."));
                }
                once!(name, s);
            }
            "debug" => once!(debug, parse_bool(lit, name)?),
            "handle_sigint" => once!(handle_sigint, parse_bool(lit, name)?),
            "handle_sigterm" => once!(handle_sigterm, parse_bool(lit, name)?),
            "shutdown_timeout" => once!(shutdown_timeout, parse_duration(lit, name)?),
            "interrupt_grace" => once!(interrupt_grace, parse_duration(lit, name)?),
            "timeout" => {
                let d = parse_duration(lit, name)?;
                if d.is_zero() {
                    return Err(syn::Error::new(
                        span,
                        "`timeout` must be greater than zero.",
                    ));
                }
                once!(timeout, d);
            }
            _ => unreachable!("checked against Kind::valid"),
        }
        Ok(())
    }

    fn check(self, kind: Kind) -> Result<Config, syn::Error> {
        let macro_name = kind.macro_name();
        let flavor = self.flavor.map_or(Flavor::CurrentThread, |(f, _)| f);
        if let (Flavor::CurrentThread, Some((_, span))) = (flavor, self.worker_threads) {
            return Err(syn::Error::new(
                span,
                format!(
                    "The `worker_threads` option requires the `multi_thread` runtime flavor. \
                     Use `#[{macro_name}(flavor = \"multi_thread\")]`"
                ),
            ));
        }
        let start_paused = match (flavor, self.start_paused) {
            (Flavor::MultiThread, Some((_, span))) => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "The `start_paused` option requires the `current_thread` runtime \
                         flavor. Use `#[{macro_name}(flavor = \"current_thread\")]`"
                    ),
                ));
            }
            (_, Some((true, span))) => Some(span),
            _ => None,
        };
        Ok(Config {
            flavor,
            worker_threads: self.worker_threads.map(|(n, _)| n),
            start_paused,
            crate_path: self.crate_path,
            name: self.name,
            debug: self.debug,
            shutdown_timeout: self.shutdown_timeout,
            interrupt_grace: self.interrupt_grace,
            handle_sigint: self.handle_sigint,
            handle_sigterm: self.handle_sigterm,
            timeout: self.timeout,
        })
    }
}

fn parse_int(lit: &Lit, field: &str) -> Result<usize, syn::Error> {
    match lit {
        Lit::Int(int) => int.base10_parse::<usize>().map_err(|e| {
            syn::Error::new(
                lit.span(),
                format!("Failed to parse value of `{field}` as integer: {e}"),
            )
        }),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("Failed to parse value of `{field}` as integer."),
        )),
    }
}

fn parse_string(lit: &Lit, field: &str) -> Result<String, syn::Error> {
    match lit {
        Lit::Str(s) => Ok(s.value()),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("Failed to parse value of `{field}` as string."),
        )),
    }
}

fn parse_bool(lit: &Lit, field: &str) -> Result<bool, syn::Error> {
    match lit {
        Lit::Bool(b) => Ok(b.value),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("Failed to parse value of `{field}` as bool."),
        )),
    }
}

fn parse_path(lit: &Lit, field: &str) -> Result<Path, syn::Error> {
    match lit {
        Lit::Str(s) => s.parse::<Path>().map_err(|_| {
            syn::Error::new(
                lit.span(),
                format!(
                    "Failed to parse value of `{field}` as path: \"{}\"",
                    s.value()
                ),
            )
        }),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("Failed to parse value of `{field}` as path."),
        )),
    }
}

fn parse_duration(lit: &Lit, field: &str) -> Result<Duration, syn::Error> {
    let hint = "durations are strings such as \"250ms\", \"5s\", \"1.5s\", \"1m\"; \
                units: `ns`, `us`, `ms`, `s`, `m`, `h`";
    match lit {
        Lit::Str(s) => duration_from_str(&s.value()).map_err(|why| {
            syn::Error::new(
                lit.span(),
                format!("Failed to parse value of `{field}` as duration: {why}; {hint}"),
            )
        }),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("Failed to parse value of `{field}` as duration; {hint}"),
        )),
    }
}

/// `"250ms"`, `"5s"`, `"1.5s"`, `"1m"`: a decimal number and a unit, computed
/// exactly in nanoseconds (no floating point, checked arithmetic: anything
/// beyond `u64` nanoseconds, about 584 years, is "too long").
fn duration_from_str(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{s}` has no unit"))?;
    let (number, unit) = s.split_at(split);
    let per_unit: u128 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(format!("unknown unit `{unit}`")),
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && frac.is_empty()) || frac.contains('.') {
        return Err(format!("`{number}` is not a number"));
    }
    let too_long = || format!("`{s}` is too long");
    // Only ASCII digits are left, so a failed parse is an overflow.
    let whole: u128 = whole.parse().map_err(|_| too_long())?;
    let mut nanos = whole.checked_mul(per_unit).ok_or_else(too_long)?;
    if !frac.is_empty() {
        if frac.len() > 9 {
            return Err("more than 9 decimal places".into());
        }
        let digits: u128 = frac
            .parse()
            .map_err(|_| format!("`{number}` is not a number"))?;
        // At most 9 digits times at most 3.6e12: far below `u128::MAX`.
        let scaled = digits * per_unit;
        let scale = 10u128.pow(frac.len() as u32);
        if scaled % scale != 0 {
            return Err(format!("`{s}` is not a whole number of nanoseconds"));
        }
        nanos = nanos.checked_add(scaled / scale).ok_or_else(too_long)?;
    }
    let nanos = u64::try_from(nanos).map_err(|_| too_long())?;
    Ok(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::duration_from_str as d;
    use std::time::Duration;

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(d("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(d("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(d("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(d("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(d("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(d("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn malformed_durations_say_why() {
        assert_eq!(d("5"), Err("`5` has no unit".into()));
        assert_eq!(d("5 s"), Err("unknown unit ` s`".into()));
        assert_eq!(d("5sec"), Err("unknown unit `sec`".into()));
        assert_eq!(d("s"), Err("`` is not a number".into()));
        assert_eq!(d("1.s"), Err("`1.` is not a number".into()));
        assert_eq!(d("1.2.3s"), Err("`1.2.3` is not a number".into()));
        assert!(d("1.5ns").is_err());
        assert!(d("99999999999h").is_err());
    }

    #[test]
    fn oversized_durations_are_too_long_in_every_unit() {
        let longest = Duration::from_nanos(u64::MAX);
        assert_eq!(d("18446744073709551615ns"), Ok(longest));
        assert_eq!(d("5124095h"), Ok(Duration::from_secs(5_124_095 * 3600)));
        for s in [
            "18446744073709551616ns",
            "5124096h",
            "999999999999999999999999999999h",
            "9999999999999999999999999999m",
            "999999999999999999999999999999.5s",
            "99999999999999999999999999999999ms",
            "99999999999999999999999999999999999us",
            "99999999999999999999999999999999999999999ns",
        ] {
            assert_eq!(d(s), Err(format!("`{s}` is too long")), "{s}");
        }
    }
}
