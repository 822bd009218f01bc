//! The `#[recorded_task]` attribute macro of `tasks-recorder`. Use it through
//! `tasks_recorder::recorded_task`.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

/// Placeholder: turns an `async fn` into a recorded launch (being written).
#[proc_macro_attribute]
pub fn recorded_task(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
