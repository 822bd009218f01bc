//! Where the expansion finds the runtime crate (`tasks-recorder`): under the name the user's
//! `Cargo.toml` gives it, read with `proc-macro-crate`, unless `crate = "path"` says otherwise.
//!
//! | the expanding crate                                         | the path                  |
//! |-------------------------------------------------------------|---------------------------|
//! | gives `crate = "path"`                                      | `path`, as written        |
//! | depends on `tasks-recorder` as `tasks-recorder`             | `::tasks_recorder`        |
//! | renames it (`x = { package = "tasks-recorder", .. }`)       | `::x`                     |
//! | is `tasks-recorder` (its lib, unit tests, doctests, examples) | `::tasks_recorder`      |
//! | has no `tasks-recorder` in its `Cargo.toml`, or none can be read | `::tasks_recorder`     |
//!
//! `tasks-recorder` itself: `proc-macro-crate` answers `Itself` for its lib, its unit tests,
//! its doctests and its examples (it answers the package's name only for integration tests
//! and benches). `crate::` would be right in the lib alone, while a doctest or an example is a
//! crate of its own that reaches the lib as `::tasks_recorder`; the lib therefore declares
//! `extern crate self as tasks_recorder`, so that `::tasks_recorder` is right everywhere.
//!
//! No `tasks-recorder` found: the fallback `::tasks_recorder` then fails to resolve unless
//! something else provides it, and every one of its tokens is spanned at the attribute, so
//! that rustc reports it once, there ("use of unresolved module or unlinked crate
//! `tasks_recorder`", with the advice to add the crate), instead of once per generated path.

use proc_macro2::{Span, TokenStream};
use proc_macro_crate::FoundCrate;
use quote::{quote_spanned, ToTokens};
use syn::{Ident, Path};

/// The package name of the runtime crate, as its users' manifests name it.
const PACKAGE: &str = "tasks-recorder";

/// The runtime crate's own name, which the fallback names.
const LIB: &str = "tasks_recorder";

/// The path the expansion names the runtime crate by.
pub enum RuntimeCrate {
    /// `crate = "path"`: the path as given, spanned at the string literal (an unresolved path
    /// is reported once, there).
    Given(Path),
    /// A dependency of the expanding crate (or the crate itself): `::name`.
    Found(String),
    /// Not found in the expanding crate's manifest: `::tasks_recorder`, spanned at the
    /// attribute.
    Fallback,
}

impl RuntimeCrate {
    /// The path for this expansion: `given` (`crate = "path"`) when present, else the name of
    /// `tasks-recorder` in the `Cargo.toml` of the crate being compiled.
    pub fn new(given: Option<&Path>) -> RuntimeCrate {
        if let Some(path) = given {
            return RuntimeCrate::Given(path.clone());
        }
        match proc_macro_crate::crate_name(PACKAGE) {
            // A name that is no identifier (which Cargo should never give) is not used.
            Ok(FoundCrate::Name(name)) if syn::parse_str::<Ident>(&name).is_ok() => {
                RuntimeCrate::Found(name)
            }
            Ok(FoundCrate::Itself) => RuntimeCrate::Found(LIB.to_string()),
            Ok(FoundCrate::Name(_)) | Err(_) => RuntimeCrate::Fallback,
        }
    }

    /// The path, with its tokens spanned at `span` (for errors that involve it to be reported
    /// at the user's tokens), except a given path, which keeps its own span, and the fallback,
    /// spanned at the attribute.
    pub fn at(&self, span: Span) -> TokenStream {
        match self {
            RuntimeCrate::Given(path) => path.to_token_stream(),
            RuntimeCrate::Found(name) => {
                let name = Ident::new(name, span);
                quote_spanned!(span=> ::#name)
            }
            RuntimeCrate::Fallback => {
                let span = Span::call_site();
                let name = Ident::new(LIB, span);
                quote_spanned!(span=> ::#name)
            }
        }
    }
}
