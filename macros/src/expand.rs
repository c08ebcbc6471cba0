//! Steps two and three: read the function, then expand it from the
//! [`Config`] alone.
//!
//! The techniques are tokio-macros' (`src/entry.rs`, MIT): a light function
//! parser that leaves the body's statements unparsed, spans taken from the
//! user's last statement so that type errors land on the user's code, a
//! return-type check for `main`, and on a bad attribute the function is still
//! emitted (with a fallback config) next to the `compile_error!`, so editors
//! keep working.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Attribute, Signature, Visibility, braced};

use crate::config::{self, Config, Kind, Target};

type AttributeArgs = syn::punctuated::Punctuated<syn::Meta, syn::Token![,]>;

/// The whole macro: parse, check, expand.
pub(crate) fn entry(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let input: ItemFn = match syn::parse2(item.clone()) {
        Ok(input) => input,
        Err(e) => return with_error(item, e),
    };
    let config = check_fn(kind, &input).and_then(|()| {
        AttributeArgs::parse_terminated
            .parse2(args)
            .and_then(|args| config::build(kind, args))
    });
    match config {
        Ok(config) => expand(kind, input, &config),
        Err(e) => with_error(expand(kind, input, &Config::default()), e),
    }
}

fn with_error(mut tokens: TokenStream, error: syn::Error) -> TokenStream {
    tokens.extend(error.into_compile_error());
    tokens
}

/// Checks on the function itself, before its arguments.
fn check_fn(kind: Kind, input: &ItemFn) -> Result<(), syn::Error> {
    if kind == Kind::Test {
        if let Some(attr) = input.attrs().find(|attr| is_test_attribute(attr)) {
            let msg = "second test attribute is supplied, consider removing or changing the \
                       order of your test attributes";
            return Err(syn::Error::new_spanned(attr, msg));
        }
    }
    if input.sig.asyncness.is_none() {
        let msg = "the `async` keyword is missing from the function declaration";
        return Err(syn::Error::new_spanned(input.sig.fn_token, msg));
    }
    // As `#[tokio::main]`, which may also wrap a helper that takes arguments.
    if !input.sig.inputs.is_empty() && (kind == Kind::Test || input.sig.ident == "main") {
        let msg = match kind {
            Kind::Main => "the main function cannot accept arguments",
            Kind::Test => "test functions cannot accept arguments",
        };
        return Err(syn::Error::new_spanned(&input.sig.inputs, msg));
    }
    Ok(())
}

/// Whether `attr` is `#[test]`, `#[core::prelude::*::test]` or
/// `#[std::prelude::*::test]` (with or without leading `::`).
fn is_test_attribute(attr: &Attribute) -> bool {
    let syn::Meta::Path(path) = &attr.meta else {
        return false;
    };
    if path.leading_colon.is_none() && path.is_ident("test") {
        return true;
    }
    let candidates = [
        ["core", "prelude", "*", "test"],
        ["std", "prelude", "*", "test"],
    ];
    path.segments.len() == 4
        && candidates.into_iter().any(|segments| {
            path.segments.iter().zip(segments).all(|(segment, name)| {
                segment.arguments.is_none() && (name == "*" || segment.ident == name)
            })
        })
}

fn expand(kind: Kind, mut input: ItemFn, config: &Config) -> TokenStream {
    input.sig.asyncness = None;

    // rustc puts a type mismatch on the last statement: take its first and
    // last token spans (stable `Span`s cannot join).
    let (last_start, last_end) = {
        let mut last = input.stmts.last().cloned().unwrap_or_default().into_iter();
        let start = last.next().map_or_else(Span::call_site, |t| t.span());
        let end = last.last().map_or(start, |t| t.span());
        (start, end)
    };
    let krate = match &config.crate_path {
        Some(path) => path.value.to_token_stream(),
        None => quote_spanned! {Span::call_site().located_at(last_start)=> ::runner },
    };
    let args = args_tokens(kind, config, &krate);
    let body = input.body();
    let output = match &input.sig.output {
        syn::ReturnType::Type(_, ty) if !is_unit(ty) => Some((**ty).clone()),
        _ => None,
    };
    let output_ty = match &output {
        Some(ty) => quote! { #ty },
        None => quote! { () },
    };
    let allow = quote! {
        #[allow(
            clippy::needless_return,
            clippy::diverging_sub_expression,
            clippy::unwrap_in_result,
        )]
    };

    let (generated_attrs, stmts) = match kind {
        Kind::Main => {
            // Compile-time check that the body's output is the declared return type.
            let check = match &output {
                Some(ty) if matches!(ty, syn::Type::Never(_)) || contains_impl_trait(ty) => {
                    quote! {}
                }
                _ => quote_spanned! {last_end=>
                    if false {
                        let _: &dyn ::core::future::Future<Output = #output_ty> = &body;
                    }
                },
            };
            // Spanned at the last statement: that is where rustc reports a
            // body whose value is not the declared return type.
            let run = quote_spanned! {last_end=>
                #allow
                {
                    return #krate::__private::main(#args, body);
                }
            };
            let stmts = quote! {
                let body = async #body;
                let body = {
                    #check
                    body
                };
                #run
            };
            (quote! {}, stmts)
        }
        Kind::Test => {
            // The body is built on the watchdog's worker thread, so it is
            // passed as a function pointer (`Send` even when the future is
            // not), and boxed as `dyn Future` so that every test shares one
            // instantiation of the runner's `run`.
            let make = quote_spanned! {last_end=>
                || ::std::boxed::Box::pin(async #body)
            };
            let call = quote! { #krate::__private::test(#args, body) };
            let stmts = match output {
                // The value is turned into an exit code on the worker thread
                // (it need not be `Send`); the harness reads that code.
                Some(_) => {
                    input.sig.output = syn::parse_quote! { -> ::std::process::ExitCode };
                    quote! {
                        let body: #krate::__private::TestBody<#output_ty> = #make;
                        #allow
                        {
                            return #call;
                        }
                    }
                }
                None => quote! {
                    let body: #krate::__private::TestBody<()> = #make;
                    let _: ::std::process::ExitCode = #call;
                },
            };
            (quote! { #[::core::prelude::v1::test] }, stmts)
        }
    };
    input.into_tokens(generated_attrs, stmts)
}

/// `runner::__private::Args { .., ..Args::DEFAULT }` from the table's
/// settings: `runtime` and `runner` are non-capturing closures that call the
/// Tokio runtime builder's and `runner::Builder`'s methods, each spanned at
/// its argument so that an error in it points there.
fn args_tokens(kind: Kind, config: &Config, krate: &TokenStream) -> TokenStream {
    let mut fields = Vec::new();
    let mut runtime = Vec::new();
    let mut runner = Vec::new();
    for setting in config.settings(kind, krate) {
        let value = &respan(setting.value, setting.span);
        match setting.target {
            Target::Crate => {}
            Target::Field => {
                let field = syn::Ident::new(setting.name, Span::call_site());
                fields.push(quote! { #field: ::core::option::Option::Some(#value) });
            }
            Target::Runtime(method) => {
                let method = syn::Ident::new(method, setting.span);
                runtime.push(quote_spanned! {setting.span=> runtime.#method(#value); });
            }
            Target::Runner(method) => {
                let method = syn::Ident::new(method, setting.span);
                runner.push(quote_spanned! {setting.span=> .#method(#value) });
            }
        }
    }
    if !runtime.is_empty() {
        // Without Tokio's `test-util` feature, `StartPausedFallback` turns
        // `start_paused` into an error that names the feature.
        fields.push(quote! {
            runtime: |runtime: &mut #krate::__private::RuntimeBuilder| {
                #[allow(unused_imports)]
                use #krate::__private::StartPausedFallback as _;
                #(#runtime)*
            }
        });
    }
    if !runner.is_empty() {
        fields.push(quote! {
            runner: |runner: #krate::Builder| runner #(#runner)*
        });
    }
    quote! {
        #krate::__private::Args { #(#fields,)* ..#krate::__private::Args::DEFAULT }
    }
}

/// `tokens`, spanned at `span` (an argument's literal, from the user's own
/// code), so that rustc puts an error about them there. (Not
/// `call_site().located_at(span)`: rustc moves errors at such spans to the
/// whole attribute.)
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut tree => {
                tree.set_span(span);
                tree
            }
        })
        .collect()
}

fn is_unit(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Tuple(t) if t.elems.is_empty())
}

fn contains_impl_trait(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::ImplTrait(_) => true,
        syn::Type::Array(t) => contains_impl_trait(&t.elem),
        syn::Type::Ptr(t) => contains_impl_trait(&t.elem),
        syn::Type::Reference(t) => contains_impl_trait(&t.elem),
        syn::Type::Slice(t) => contains_impl_trait(&t.elem),
        syn::Type::Tuple(t) => t.elems.iter().any(contains_impl_trait),
        syn::Type::Paren(t) => contains_impl_trait(&t.elem),
        syn::Type::Group(t) => contains_impl_trait(&t.elem),
        syn::Type::Path(t) => match t.path.segments.last() {
            Some(segment) => match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => args.args.iter().any(|arg| match arg {
                    syn::GenericArgument::Type(t) => contains_impl_trait(t),
                    syn::GenericArgument::AssocType(t) => contains_impl_trait(&t.ty),
                    _ => false,
                }),
                syn::PathArguments::Parenthesized(args) => {
                    args.inputs.iter().any(contains_impl_trait)
                        || matches!(&args.output, syn::ReturnType::Type(_, t) if contains_impl_trait(t))
                }
                syn::PathArguments::None => false,
            },
            None => false,
        },
        _ => false,
    }
}

/// A function item whose body statements are kept as unparsed tokens.
struct ItemFn {
    outer_attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    brace_token: syn::token::Brace,
    inner_attrs: Vec<Attribute>,
    /// Statements, each with its terminating `;`.
    stmts: Vec<TokenStream>,
}

impl ItemFn {
    fn attrs(&self) -> impl Iterator<Item = &Attribute> {
        self.outer_attrs.iter().chain(self.inner_attrs.iter())
    }

    /// The body as a block, for `async #body`.
    fn body(&self) -> TokenStream {
        let mut tokens = TokenStream::new();
        self.brace_token.surround(&mut tokens, |tokens| {
            tokens.extend(self.stmts.iter().cloned());
        });
        tokens
    }

    fn into_tokens(self, generated_attrs: TokenStream, stmts: TokenStream) -> TokenStream {
        let mut tokens = TokenStream::new();
        for attr in self.outer_attrs {
            attr.to_tokens(&mut tokens);
        }
        // Inner attributes cannot stay on the generated block: lift them out,
        // as syn does.
        for mut attr in self.inner_attrs {
            attr.style = syn::AttrStyle::Outer;
            attr.to_tokens(&mut tokens);
        }
        // Last, so that attributes expanded after ours see `#[test]`.
        generated_attrs.to_tokens(&mut tokens);
        self.vis.to_tokens(&mut tokens);
        self.sig.to_tokens(&mut tokens);
        self.brace_token
            .surround(&mut tokens, |tokens| tokens.extend(stmts));
        tokens
    }
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let outer_attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let content;
        let brace_token = braced!(content in input);
        let inner_attrs = Attribute::parse_inner(&content)?;
        let mut buf = TokenStream::new();
        let mut stmts = Vec::new();
        while !content.is_empty() {
            if let Some(semi) = content.parse::<Option<syn::Token![;]>>()? {
                semi.to_tokens(&mut buf);
                stmts.push(std::mem::take(&mut buf));
                continue;
            }
            buf.extend([content.parse::<TokenTree>()?]);
        }
        if !buf.is_empty() {
            stmts.push(buf);
        }
        Ok(ItemFn {
            outer_attrs,
            vis,
            sig,
            brace_token,
            inner_attrs,
            stmts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{TokenStream, entry};
    use crate::config::Kind;
    use quote::quote;

    fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        entry(kind, args, item).to_string()
    }

    #[test]
    fn generated_code_never_names_the_users_tokio() {
        let main = expand(
            Kind::Main,
            quote!(flavor = "multi_thread", worker_threads = 2),
            quote!(
                async fn main() {}
            ),
        );
        let test = expand(
            Kind::Test,
            quote!(start_paused = true),
            quote!(
                async fn t() {}
            ),
        );
        for out in [main, test] {
            assert!(!out.contains("tokio"), "{out}");
            assert!(out.contains(":: runner :: __private ::"), "{out}");
        }
    }

    #[test]
    fn crate_argument_replaces_the_path() {
        let out = expand(
            Kind::Main,
            quote!(crate = "my::rt"),
            quote!(
                async fn main() {}
            ),
        );
        assert!(out.contains("my :: rt :: __private :: main"), "{out}");
        assert!(!out.contains(":: runner"), "{out}");
    }

    #[test]
    fn test_attribute_comes_after_the_functions_own() {
        let out = expand(
            Kind::Test,
            quote!(),
            quote!(
                #[should_panic]
                async fn t() {
                    panic!()
                }
            ),
        );
        let own = out.find("should_panic").unwrap();
        let test = out.find("# [:: core :: prelude :: v1 :: test]").unwrap();
        assert!(own < test, "{out}");
    }

    #[test]
    fn a_test_returning_a_value_reports_an_exit_code() {
        let out = expand(
            Kind::Test,
            quote!(),
            quote!(
                async fn t() -> Result<(), String> {
                    Ok(())
                }
            ),
        );
        assert!(
            out.contains("fn t () -> :: std :: process :: ExitCode"),
            "{out}"
        );
        assert!(out.contains("TestBody < Result < () , String > >"), "{out}");
    }

    #[test]
    fn bad_arguments_still_emit_the_function() {
        let out = expand(
            Kind::Main,
            quote!(bogus = 1),
            quote!(
                async fn main() {}
            ),
        );
        assert!(out.contains("fn main ()"), "{out}");
        assert!(out.contains("compile_error !"), "{out}");
    }

    #[test]
    fn unhandled_panic_maps_to_lost_panic() {
        let main = |args| {
            expand(
                Kind::Main,
                args,
                quote!(
                    async fn main() {}
                ),
            )
        };
        let test = |args| {
            expand(
                Kind::Test,
                args,
                quote!(
                    async fn t() {}
                ),
            )
        };
        let cancel = "lost_panic (:: runner :: LostPanic :: CancelMain)";
        let report = "lost_panic (:: runner :: LostPanic :: Report)";
        assert!(main(quote!()).find("lost_panic").is_none());
        assert!(main(quote!(unhandled_panic = "shutdown_runtime")).contains(cancel));
        assert!(main(quote!(unhandled_panic = "ignore")).contains(report));
        assert!(
            test(quote!()).contains(cancel),
            "tests default to CancelMain"
        );
        let ignored = test(quote!(unhandled_panic = "ignore"));
        assert!(
            ignored.contains(report) && !ignored.contains(cancel),
            "{ignored}"
        );
    }

    #[test]
    fn a_test_writes_out_the_settings_every_test_gets() {
        let out = expand(
            Kind::Test,
            quote!(),
            quote!(
                async fn t() {}
            ),
        );
        assert!(
            out.contains(
                "runner . debug (true) . handle_sigint (false) . handle_sigterm (false) \
                 . lost_panic (:: runner :: LostPanic :: CancelMain)"
            ),
            "{out}"
        );
    }

    #[test]
    fn start_paused_false_applies_nothing() {
        let out = expand(
            Kind::Main,
            quote!(start_paused = false),
            quote!(
                async fn main() {}
            ),
        );
        assert!(!out.contains("start_paused"), "{out}");
        assert!(!out.contains("runtime :"), "{out}");
    }
}
