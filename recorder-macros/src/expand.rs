//! Stage 3: generate the wrapper (see the expansion documented on `recorded_task`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, ReturnType};

use crate::parse::Args;

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
    let krate = match &args.krate {
        Some(path) => path.to_token_stream(),
        None => quote_spanned!(name_span=> ::tasks_recorder),
    };
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
    sig.output = syn::parse_quote_spanned! {arrow=>
        -> ::core::result::Result<(), #private::TaskState>
    };

    let id_span = id.span();
    let recorder_local = local("__recorded_task_recorder", name_span);
    let id_local = local("__recorded_task_id", id_span);
    let task_local = local("__recorded_task_task", name_span);
    let ret_local = local("__recorded_task_ret", ret_span);

    // The recorder and the id, evaluated before the body starts, with the arguments in scope.
    let recorder_and_id = match &args.recorder {
        Some(recorder) => {
            let recorder_span = recorder.span();
            let recorder = quote_spanned! {recorder_span=>
                let #recorder_local = #private::recorder(&(#recorder));
            };
            let id = quote_spanned! {id_span=>
                let #id_local = #private::id(&#recorder_local, #id);
            };
            quote!(#recorder #id)
        }
        None => quote_spanned! {id_span=>
            let #id_local = #private::default_id(#id);
            let #recorder_local = #private::default_recorder(&#id_local);
        },
    };

    // `<Ret as TaskOutput>::into_result(ret)` starts at the first token of the return type and
    // ends at its last, so the type-level check that it is a `Result` is reported on exactly
    // the return type (once: the call and its path have the same span).
    let ret_end = last_span(&ret).unwrap_or(ret_span);
    let task_output = match &args.krate {
        Some(path) => quote_spanned!(ret_end=> #path::__private::TaskOutput),
        None => quote_spanned!(ret_end=> ::tasks_recorder::__private::TaskOutput),
    };
    let open = quote_spanned!(ret_span=> <);
    let ret_arg = local("__recorded_task_ret", ret_end);
    let into_result = quote_spanned! {ret_end=>
        #open #ret as #task_output>::into_result(#ret_arg)
    };
    let launch = match (args.block, args.error_text) {
        (Some(_), None) => quote_spanned!(name_span=> #private::launch_block),
        (None, None) => quote_spanned!(name_span=> #private::launch),
        (Some(_), Some(_)) => quote_spanned!(name_span=> #private::launch_block_with_error_text),
        (None, Some(_)) => quote_spanned!(name_span=> #private::launch_with_error_text),
    };
    let launch_call = quote_spanned! {name_span=>
        #launch(#recorder_local, #id_local, #task_local).await
    };

    // The task is spanned at the body, which its errors (e.g. not `Send`) are about.
    let body_span = block.brace_token.span.join();
    let task = quote_spanned! {body_span=>
        let #task_local = async move {
            let #ret_local: #ret = #block;
            #into_result
        };
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #recorder_and_id
            #task
            #launch_call
        }
    }
}

/// The span of the last token of `tokens` (the closing delimiter of a final group).
fn last_span(tokens: &TokenStream) -> Option<Span> {
    tokens.clone().into_iter().last().map(|token| match token {
        proc_macro2::TokenTree::Group(group) => group.span_close(),
        other => other.span(),
    })
}
