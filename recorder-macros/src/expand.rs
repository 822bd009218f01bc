//! Stage 3: generate the wrapper (see the expansion documented on `recorded_task`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, Ident, ItemFn, Meta, ReturnType, Token};

use crate::parse::Args;
use crate::runtime_crate::RuntimeCrate;

/// A generated local: `mixed_site` hygiene, so the user's code (the id and recorder
/// expressions, the body) can neither name it nor be shadowed by it, located at `at` so that
/// errors involving it point at the user's tokens.
fn local(name: &str, at: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(at))
}

/// The wrapper that replaces `function`. `args.id` must be `Some` (checked by `validate`).
pub fn expand(args: Args, function: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = function;
    let Some(id) = args.id else {
        // `validate` reports a missing id; nothing to generate.
        return TokenStream::new();
    };

    let name_span = sig.ident.span();
    let runtime = RuntimeCrate::new(args.krate.as_ref());
    let krate_at = |span: Span| runtime.at(span);
    let krate = krate_at(name_span);
    let private = quote_spanned!(name_span=> #krate::__private);

    // The body's declared output. `validate` rejects a missing return type.
    let (ret, ret_span) = match &sig.output {
        ReturnType::Type(_, ty) => (ty.to_token_stream(), ty.span()),
        ReturnType::Default => (quote!(()), name_span),
    };
    let arrow = match &sig.output {
        ReturnType::Type(arrow, _) => arrow.spans[0],
        ReturnType::Default => name_span,
    };
    let task_output_at_arrow = quote_spanned!(arrow=> #private::TaskOutput);
    sig.output = match &args.recorder_error {
        // `output`: the task's own `Result`, through a handle or (with `block`) at once.
        None if args.output.is_some() => {
            let ok = quote_spanned!(arrow=> <#ret as #task_output_at_arrow>::Ok);
            let err = quote_spanned!(arrow=> <#ret as #task_output_at_arrow>::Err);
            if args.block.is_some() {
                syn::parse_quote_spanned! {arrow=>
                    -> ::core::result::Result<
                        ::core::result::Result<::core::result::Result<#ok, #err>, #private::NoOutput>,
                        #private::TaskState,
                    >
                }
            } else {
                syn::parse_quote_spanned! {arrow=>
                    -> ::core::result::Result<#private::TaskHandle<#ok, #err>, #private::TaskState>
                }
            }
        }
        None => syn::parse_quote_spanned! {arrow=>
            -> ::core::result::Result<(), #private::TaskState>
        },
        Some(error) => syn::parse_quote_spanned! {arrow=>
            -> ::core::result::Result<::core::result::Result<(), #private::TaskState>, #error>
        },
    };

    let id_span = id.span();
    let recorder_local = local("__recorded_task_recorder", name_span);
    let id_local = local("__recorded_task_id", id_span);
    let task_local = local("__recorded_task_task", name_span);
    let ret_local = local("__recorded_task_ret", ret_span);
    let launched_local = local("__recorded_task_launched", name_span);

    // The recorder and the id, evaluated before the body starts, with the arguments in scope.
    // Every token of the checks of the id is spanned at the id, so that a wrong id is
    // reported there and only there.
    // (A `crate = "path"` keeps its span, the string literal: an unresolved path is reported
    // once, there; see `RuntimeCrate::at`.)
    let krate_at_id = krate_at(id_span);
    let recorder_and_id = match &args.recorder {
        Some(recorder) => {
            // `__private::at(&(<recorder>))` is spanned from the first token of the
            // expression to its last, so that rustc reports an expression that is not a
            // recorder (`__private::RecorderHandle`) on exactly that expression.
            let recorder_span = recorder.span();
            let recorder_end = last_span(&recorder.to_token_stream()).unwrap_or(recorder_span);
            let krate_at_recorder = krate_at(recorder_span);
            let borrowed = quote_spanned!(recorder_end=> (&(#recorder)));
            let recorder = quote_spanned! {recorder_span=>
                let #recorder_local = #krate_at_recorder::__private::recorder(
                    #krate_at_recorder::__private::at #borrowed
                );
            };
            // `id` checks that the id has the recorder's id type (`__private::RecorderId`).
            // The id comes first, so that its own type (e.g. `&str` for `name.as_str()`) is
            // known when the recorder's id type is compared with it.
            // rustc reports an unmet bound of `id` at the argument it blames, the recorder: a
            // call spanned from the id's first token to its last, around the generated local
            // (whose hygiene would otherwise make rustc point at the whole attribute).
            let recorder_at_id = local("__recorded_task_recorder", id_span);
            let id_end = last_span(&id.to_token_stream()).unwrap_or(id_span);
            let recorder_arg = quote_spanned!(id_end=> (&#recorder_at_id));
            let id = quote_spanned! {id_span=>
                let #id_local = #krate_at_id::__private::id(
                    #id,
                    #krate_at_id::__private::recorder_ref #recorder_arg,
                );
            };
            quote!(#recorder #id)
        }
        None => {
            // A `&str` id is refused (`__private::UseAStringId`): it would key the default
            // recorder of `&str`, apart from every `String` id.
            quote_spanned! {id_span=>
                let #id_local = {
                    #[allow(unused_imports)]
                    use #krate_at_id::__private::DefaultIdFallback as _;
                    #krate_at_id::__private::default_id(
                        #krate_at_id::__private::DefaultId(#id).__recorded_task_default_id()
                    )
                };
                let #recorder_local = #private::default_recorder(&#id_local);
            }
        }
    };

    // `<Ret as TaskOutput>::into_result(ret)` starts at the first token of the return type and
    // ends at its last, so the type-level check that it is a `Result` is reported on exactly
    // the return type (once: the call and its path have the same span).
    let ret_end = last_span(&ret).unwrap_or(ret_span);
    let krate_at_ret = krate_at(ret_end);
    let task_output = quote_spanned!(ret_end=> #krate_at_ret::__private::TaskOutput);
    let open = quote_spanned!(ret_span=> <);
    let ret_arg = local("__recorded_task_ret", ret_end);
    let into_result = quote_spanned! {ret_end=>
        #open #ret as #task_output>::into_result(#ret_arg)
    };
    // The launch form (`__private::Launch`): one option a key.
    let blocks = args.block.map(|_| quote_spanned!(name_span=> .block()));
    let keeps_text = args
        .error_text
        .map(|_| quote_spanned!(name_span=> .keeping_error_text()));
    // Spanned at the user's expression: a value that is not a `Duration` is reported there.
    let times_out = args
        .timeout
        .as_ref()
        .map(|timeout| quote_spanned!(timeout.span()=> .timeout(#timeout)));
    let launch_call = match &args.retry {
        None if args.output.is_some() => {
            let function = if args.block.is_some() {
                quote_spanned!(name_span=> launch_block_with_output)
            } else {
                quote_spanned!(name_span=> launch_with_output)
            };
            quote_spanned! {name_span=>
                let #launched_local = #private::#function(
                    #recorder_local,
                    #id_local,
                    #task_local,
                    #private::Launch::spawned() #times_out,
                )
                .await;
            }
        }
        None => quote_spanned! {name_span=>
            let #launched_local = #private::launch(
                #recorder_local,
                #id_local,
                #task_local,
                #private::Launch::spawned() #blocks #keeps_text #times_out,
            )
            .await;
        },
        Some(policy) => {
            // Spanned at the user's expression: a value that is not a `Retry` of the body's
            // error type is reported there; with `error_text`, the policy keeps the text.
            let policy_span = policy.span();
            let policy = match args.error_text {
                Some(_) => quote_spanned!(policy_span=> (#policy).keep_error_text()),
                None => quote_spanned!(policy_span=> #policy),
            };
            quote_spanned! {name_span=>
                let #launched_local = #private::launch_retrying(
                    #recorder_local,
                    #id_local,
                    #task_local,
                    #private::Launch::spawned() #times_out,
                    #policy,
                )
                .await;
            }
        }
    };

    // What the wrapper returns: without `recorder_error`, the refusal only, which checks
    // that the recorder's launches cannot fail (`__private::CannotFail`); with it, the
    // recorder's error converted into the given type (`__private::IntoRecorderError`). rustc
    // reports an unmet bound at the argument it blames: here a call (`__private::at`)
    // spanned from the first token of the tokens the check is about (the recorder
    // expression, the error type) to their last, around the local, so that the error is
    // reported on exactly those tokens.
    let (checked, function) = match &args.recorder_error {
        None => (
            args.recorder.as_ref().map(ToTokens::to_token_stream),
            "launched",
        ),
        Some(error) => (Some(error.to_token_stream()), "launched_or_error"),
    };
    let (check_start, check_end) = match &checked {
        Some(tokens) => (
            first_span(tokens).unwrap_or(name_span),
            last_span(tokens).unwrap_or(name_span),
        ),
        None => (name_span, name_span),
    };
    let function = Ident::new(function, check_start);
    let krate_at_check = krate_at(check_start);
    let launched_arg = local("__recorded_task_launched", check_start);
    let launched_arg = quote_spanned!(check_end=> (#launched_arg));
    let result = if args.output.is_some() {
        // Already what the wrapper returns.
        quote_spanned!(name_span=> #launched_local)
    } else {
        quote_spanned! {check_start=>
            #krate_at_check::__private::#function(#krate_at_check::__private::at #launched_arg)
        }
    };

    // The task is spanned at the body, which its errors (e.g. not `Send`) are about.
    let body_span = block.brace_token.span.join();
    let task = match &args.retry {
        None => quote_spanned! {body_span=>
            let #task_local = async move {
                let #ret_local: #ret = #block;
                #into_result
            };
        },
        // With `retry`, a maker of one future per try: each try gets its own clone of every
        // argument (`validate::retryable` checked that each is a plain name), so an argument
        // that is not `Clone` is reported at its name.
        Some(_) => {
            let clones = sig.inputs.iter().filter_map(|input| match input {
                syn::FnArg::Typed(typed) => match &*typed.pat {
                    syn::Pat::Ident(pat) => {
                        let (ident, mutability) = (&pat.ident, &pat.mutability);
                        // An argument the body does not use (one used only by `id` or
                        // `recorder`) must not warn.
                        Some(quote_spanned! {ident.span()=>
                            #[allow(unused_variables, unused_mut)]
                            let #mutability #ident = ::core::clone::Clone::clone(&#ident);
                        })
                    }
                    _ => None,
                },
                syn::FnArg::Receiver(_) => None,
            });
            quote_spanned! {body_span=>
                let #task_local = move || {
                    #(#clones)*
                    async move {
                        let #ret_local: #ret = #block;
                        #into_result
                    }
                };
            }
        }
    };

    // Inner attributes (`#![allow(..)]` at the top of the body) stay at the top of the body.
    let (outer, inner): (Vec<Attribute>, Vec<Attribute>) = attrs
        .into_iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Outer));
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #recorder_and_id
            #task
            #launch_call
            #result
        }
    }
}

/// Whether `attr` is `#[instrument]` (`#[tracing::instrument(..)]`, or any path ending in
/// `instrument`), or a `#[cfg_attr(.., instrument)]` that may become one.
fn is_instrument(attr: &Attribute) -> bool {
    let ends_in_instrument = |path: &syn::Path| {
        path.segments
            .last()
            .is_some_and(|segment| segment.ident == "instrument")
    };
    if ends_in_instrument(attr.path()) {
        return true;
    }
    if !attr.path().is_ident("cfg_attr") {
        return false;
    }
    // `cfg_attr(<predicate>, <attr>, ...)`: the predicate is itself a meta item.
    attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .is_ok_and(|metas| {
            metas
                .iter()
                .skip(1)
                .any(|meta| ends_in_instrument(meta.path()))
        })
}

/// `function` with its `#[instrument]` attributes moved above a copy of this attribute
/// (`args` as written), or `None` when it has none.
///
/// Attribute macros expand from the top: `#[instrument]` below `#[recorded_task]` would see
/// the wrapper, and its span would cover the launch, not the task. Above it, it sees the
/// function as written and instruments its body, which `#[recorded_task]` then turns into
/// the task: the span covers the job's work, its fields are the arguments, and `err` / `ret`
/// see the body's `Result`. The other attributes stay below, in their order, so they still
/// apply to the wrapper.
pub fn below_instrument(
    args: TokenStream,
    parsed: &Args,
    function: &ItemFn,
) -> Option<TokenStream> {
    let (instrument, others): (Vec<&Attribute>, Vec<&Attribute>) = function
        .attrs
        .iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Outer) && is_instrument(attr));
    if instrument.is_empty() {
        return None;
    }
    let name_span = function.sig.ident.span();
    let krate = RuntimeCrate::new(parsed.krate.as_ref()).at(name_span);
    let attribute = quote_spanned!(name_span=> #krate::recorded_task);
    let ItemFn {
        vis, sig, block, ..
    } = function;
    // Inner attributes (`#![allow(..)]` in the body) are printed back inside the body.
    let (outer, inner): (Vec<&Attribute>, Vec<&Attribute>) = others
        .into_iter()
        .partition(|attr| matches!(attr.style, AttrStyle::Outer));
    let statements = &block.stmts;
    let body = quote_spanned!(block.brace_token.span.join()=> { #(#inner)* #(#statements)* });
    Some(quote! {
        #(#instrument)*
        #[#attribute(#args)]
        #(#outer)*
        #vis #sig #body
    })
}

/// The span of the first token of `tokens` (the opening delimiter of a first group).
fn first_span(tokens: &TokenStream) -> Option<Span> {
    tokens.clone().into_iter().next().map(|token| match token {
        proc_macro2::TokenTree::Group(group) => group.span_open(),
        other => other.span(),
    })
}

/// The span of the last token of `tokens` (the closing delimiter of a final group).
fn last_span(tokens: &TokenStream) -> Option<Span> {
    tokens.clone().into_iter().last().map(|token| match token {
        proc_macro2::TokenTree::Group(group) => group.span_close(),
        other => other.span(),
    })
}
