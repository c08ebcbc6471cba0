//! The kinds of literal an argument takes: how each is parsed and checked
//! (with the error at the literal) and how it is written into the generated
//! code.
//!
//! Where a value means what it means for `#[tokio::main]`/`#[tokio::test]`,
//! the wording of its errors follows tokio-macros.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Lit, Path};

/// A value an attribute argument can take.
pub(crate) trait Value: Sized {
    /// Parses and checks the literal given for the argument `name`.
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self>;

    /// The value as an expression in the generated code; `krate` is the path
    /// to `runner`.
    fn tokens(&self, krate: &TokenStream) -> TokenStream;
}

/// A value as given, with the span of its literal (where errors about it,
/// and the generated code that uses it, point).
pub(crate) struct Given<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

impl Value for bool {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        match lit {
            Lit::Bool(b) => Ok(b.value),
            _ => Err(error(
                lit,
                format!("Failed to parse value of `{name}` as bool."),
            )),
        }
    }

    fn tokens(&self, _: &TokenStream) -> TokenStream {
        quote! { #self }
    }
}

/// The runtime flavour, as tokio names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Value for Flavor {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        let flavor = match parse_string(lit, name)?.as_str() {
            // Every runner loop is a `LocalSet` on the calling thread, which is
            // what tokio's `local` flavour provides.
            "current_thread" | "local" => Flavor::CurrentThread,
            "multi_thread" => Flavor::MultiThread,
            "single_thread" => {
                return Err(error(
                    lit,
                    "The single threaded runtime flavor is called `current_thread`.",
                ));
            }
            "basic_scheduler" => {
                return Err(error(
                    lit,
                    "The `basic_scheduler` runtime flavor has been renamed to `current_thread`.",
                ));
            }
            "threaded_scheduler" => {
                return Err(error(
                    lit,
                    "The `threaded_scheduler` runtime flavor has been renamed to `multi_thread`.",
                ));
            }
            s => {
                return Err(error(
                    lit,
                    format!(
                        "No such runtime flavor `{s}`. The runtime flavors are \
                         `current_thread`, `local`, and `multi_thread`."
                    ),
                ));
            }
        };
        Ok(flavor)
    }

    fn tokens(&self, krate: &TokenStream) -> TokenStream {
        match self {
            Flavor::CurrentThread => quote! { #krate::__private::Flavor::CurrentThread },
            Flavor::MultiThread => quote! { #krate::__private::Flavor::MultiThread },
        }
    }
}

/// `worker_threads`: a positive integer.
pub(crate) struct Threads(usize);

impl Value for Threads {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        let n = match lit {
            Lit::Int(int) => int.base10_parse::<usize>().map_err(|e| {
                error(
                    lit,
                    format!("Failed to parse value of `{name}` as integer: {e}"),
                )
            })?,
            _ => {
                return Err(error(
                    lit,
                    format!("Failed to parse value of `{name}` as integer."),
                ));
            }
        };
        if n == 0 {
            return Err(error(lit, format!("`{name}` may not be 0.")));
        }
        Ok(Threads(n))
    }

    fn tokens(&self, _: &TokenStream) -> TokenStream {
        let n = self.0;
        quote! { #n }
    }
}

/// `name`: a non-empty string.
pub(crate) struct Name(String);

impl Value for Name {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        let s = parse_string(lit, name)?;
        if s.trim().is_empty() {
            return Err(error(lit, format!("`{name}` may not be empty.")));
        }
        Ok(Name(s))
    }

    fn tokens(&self, _: &TokenStream) -> TokenStream {
        let s = &self.0;
        quote! { #s }
    }
}

/// `crate`: a path, in a string.
impl Value for Path {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        match lit {
            Lit::Str(s) => s.parse::<Path>().map_err(|_| {
                error(
                    lit,
                    format!(
                        "Failed to parse value of `{name}` as path: \"{}\"",
                        s.value()
                    ),
                )
            }),
            _ => Err(error(
                lit,
                format!("Failed to parse value of `{name}` as path."),
            )),
        }
    }

    fn tokens(&self, _: &TokenStream) -> TokenStream {
        quote! { #self }
    }
}

impl Value for Duration {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        let hint = "durations are strings such as \"250ms\", \"5s\", \"1.5s\", \"1m\"; \
                    units: `ns`, `us`, `ms`, `s`, `m`, `h`";
        match lit {
            Lit::Str(s) => duration_from_str(&s.value()).map_err(|why| {
                error(
                    lit,
                    format!("Failed to parse value of `{name}` as duration: {why}; {hint}"),
                )
            }),
            _ => Err(error(
                lit,
                format!("Failed to parse value of `{name}` as duration; {hint}"),
            )),
        }
    }

    fn tokens(&self, _: &TokenStream) -> TokenStream {
        // Parsing guarantees that it fits.
        let nanos = u64::try_from(self.as_nanos()).unwrap_or(u64::MAX);
        quote! { ::core::time::Duration::from_nanos(#nanos) }
    }
}

/// `timeout`: a duration greater than zero.
pub(crate) struct Timeout(Duration);

impl Value for Timeout {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        let d = Duration::parse(lit, name)?;
        if d.is_zero() {
            return Err(error(lit, format!("`{name}` must be greater than zero.")));
        }
        Ok(Timeout(d))
    }

    fn tokens(&self, krate: &TokenStream) -> TokenStream {
        self.0.tokens(krate)
    }
}

/// Tokio's `unhandled_panic`, mapped onto `runner::LostPanic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnhandledPanic {
    /// `"ignore"`: `LostPanic::Report` (reported; the run goes on).
    Ignore,
    /// `"shutdown_runtime"`: `LostPanic::CancelMain`.
    ShutdownRuntime,
}

impl Value for UnhandledPanic {
    fn parse(lit: &Lit, name: &str) -> syn::Result<Self> {
        match parse_string(lit, name)?.as_str() {
            "ignore" => Ok(UnhandledPanic::Ignore),
            "shutdown_runtime" => Ok(UnhandledPanic::ShutdownRuntime),
            s => Err(error(
                lit,
                format!(
                    "No such unhandled panic behavior `{s}`. The unhandled panic behaviors \
                     are `ignore` and `shutdown_runtime`."
                ),
            )),
        }
    }

    fn tokens(&self, krate: &TokenStream) -> TokenStream {
        match self {
            UnhandledPanic::Ignore => quote! { #krate::LostPanic::Report },
            UnhandledPanic::ShutdownRuntime => quote! { #krate::LostPanic::CancelMain },
        }
    }
}

fn error(lit: &Lit, message: impl std::fmt::Display) -> syn::Error {
    syn::Error::new(lit.span(), message)
}

fn parse_string(lit: &Lit, name: &str) -> syn::Result<String> {
    match lit {
        Lit::Str(s) => Ok(s.value()),
        _ => Err(error(
            lit,
            format!("Failed to parse value of `{name}` as string."),
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
