//! The `#[recorded_task]` attribute macro of `tasks-recorder`. Use it through
//! `tasks_recorder::recorded_task`.
//!
//! The crate is split by stage: `parse` reads the attribute's arguments and the item,
//! `validate` checks the function, `expand` generates the wrapper, naming the runtime crate by
//! the path `runtime_crate` finds.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod expand;
mod parse;
mod runtime_crate;
mod validate;

use proc_macro::TokenStream;

#[doc = include_str!("recorded_task.md")]
#[proc_macro_attribute]
pub fn recorded_task(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: proc_macro2::TokenStream = item.into();
    let args_tokens: proc_macro2::TokenStream = args.clone().into();
    let function = match parse::function(item.clone()) {
        Ok(function) => function,
        Err(mut error) => {
            if let Err(args_error) = parse::Args::parse(args.into()) {
                error.combine(args_error);
            }
            return with_errors(item, error);
        }
    };
    let args = match parse::Args::parse(args.into()) {
        Ok(args) => args,
        Err(error) => {
            let error = match validate::validate(&function, false) {
                Ok(()) => error,
                Err(more) => {
                    let mut error = error;
                    error.combine(more);
                    error
                }
            };
            return with_errors(item, error);
        }
    };
    if let Err(error) = validate::validate(&function, args.id.is_none()) {
        return with_errors(item, error);
    }
    if args.retry.is_some() {
        if let Err(error) = validate::retryable(&function, args.block) {
            return with_errors(item, error);
        }
    }
    // `#[instrument]` below this attribute goes above it, so that it instruments the body
    // (the task) rather than the wrapper: this attribute then expands again, after it.
    if let Some(reordered) = expand::below_instrument(args_tokens, &args, &function) {
        return reordered.into();
    }
    expand::expand(args, function).into()
}

/// The item as written, followed by the errors: the function still exists, so its callers get
/// no "cannot find function" errors on top of the real one.
fn with_errors(item: proc_macro2::TokenStream, error: syn::Error) -> TokenStream {
    let error = error.into_compile_error();
    quote::quote!(#item #error).into()
}
