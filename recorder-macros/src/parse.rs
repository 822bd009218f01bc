//! Stage 1: parse the attribute's arguments (`id = <expr>, recorder = <expr>, block,
//! error_text, output, timeout = <expr>, retry = <expr>, recorder_error = <type>, crate = "path"`) into [`Args`], and the annotated item
//! into a function ([`function`]).
//!
//! Every key is read the same way (a name, then an optional `= <expr>`, or `= <type>` for
//! `recorder_error`), then checked in one place ([`Args::from_entries`]): unknown keys,
//! duplicates, a missing or extra value. All problems of one invocation are reported together.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, Lit, Path, Token, Type};

/// The keys the attribute accepts, as shown in error messages.
pub const VALID_KEYS: &str =
    "`id = <expr>`, `recorder = <expr>`, `block`, `error_text`, `output`, \
                              `timeout = <Duration>`, `retry = <Retry>`, \
                              `recorder_error = <type>`, \
                              `crate = \"path\"`";

/// The checked arguments of one `#[recorded_task(...)]`.
pub struct Args {
    /// `id = <expr>`: `None` when missing (reported by [`crate::validate`], which knows the
    /// function to point at).
    pub id: Option<Expr>,
    /// `recorder = <expr>`.
    pub recorder: Option<Expr>,
    /// `block`: the span of the key when present.
    pub block: Option<Span>,
    /// `error_text`: the span of the key when present.
    pub error_text: Option<Span>,
    /// `output`: the span of the key when present; the wrapper returns the task's output.
    pub output: Option<Span>,
    /// `timeout = <expr>`: the attempt's own timeout, a `std::time::Duration`.
    pub timeout: Option<Expr>,
    /// `retry = <expr>`: a `tasks_recorder::Retry` policy; the function runs again for each
    /// try.
    pub retry: Option<Expr>,
    /// `recorder_error = <type>`: the type the wrapper returns a failed launch as.
    pub recorder_error: Option<Type>,
    /// `crate = "path"`: the path to the runtime crate, spanned at the string literal.
    pub krate: Option<Path>,
}

/// One `key` or `key = <value>` as written, before any check.
struct Entry {
    key: Ident,
    value: Option<Value>,
}

/// The value of a key: a type for `recorder_error` (`Box<dyn Error + Send + Sync>` is not an
/// expression), an expression for every other key.
enum Value {
    Expr(Expr),
    Type(Type),
}

impl Value {
    fn span(&self) -> Span {
        match self {
            Value::Expr(expr) => expr.span(),
            Value::Type(ty) => ty.span(),
        }
    }
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `parse_any` also accepts keywords, for `crate`.
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(if key == "recorder_error" {
                Value::Type(input.parse::<Type>()?)
            } else {
                Value::Expr(input.parse::<Expr>()?)
            })
        } else {
            None
        };
        Ok(Entry { key, value })
    }
}

/// The kind of a known key: what value it takes.
enum Key {
    Id,
    Recorder,
    Block,
    ErrorText,
    Output,
    Timeout,
    Retry,
    RecorderError,
    Crate,
}

impl Key {
    fn of(name: &str) -> Option<Key> {
        match name {
            "id" => Some(Key::Id),
            "recorder" => Some(Key::Recorder),
            "block" => Some(Key::Block),
            "error_text" => Some(Key::ErrorText),
            "output" => Some(Key::Output),
            "timeout" => Some(Key::Timeout),
            "retry" => Some(Key::Retry),
            "recorder_error" => Some(Key::RecorderError),
            "crate" => Some(Key::Crate),
            _ => None,
        }
    }
}

/// Adds `error` to the errors collected so far.
fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}

impl Args {
    /// Parses the attribute's arguments.
    pub fn parse(args: TokenStream) -> syn::Result<Args> {
        let entries = Punctuated::<Entry, Token![,]>::parse_terminated.parse2(args)?;
        Args::from_entries(entries)
    }

    /// Checks every entry: the one place where unknown keys, duplicates and values are checked.
    fn from_entries(entries: Punctuated<Entry, Token![,]>) -> syn::Result<Args> {
        let mut args = Args {
            id: None,
            recorder: None,
            block: None,
            error_text: None,
            output: None,
            timeout: None,
            retry: None,
            recorder_error: None,
            krate: None,
        };
        let mut errors = None;
        let mut seen: HashMap<String, Span> = HashMap::new();
        for Entry { key, value } in entries {
            let name = key.to_string();
            let Some(kind) = Key::of(&name) else {
                push(
                    &mut errors,
                    syn::Error::new(
                        key.span(),
                        format!(
                            "unknown key `{name}` in `#[recorded_task]`: the valid keys are \
                             {VALID_KEYS}"
                        ),
                    ),
                );
                continue;
            };
            if seen.insert(name.clone(), key.span()).is_some() {
                push(
                    &mut errors,
                    syn::Error::new(
                        key.span(),
                        format!("duplicate key `{name}` in `#[recorded_task]`: give it once"),
                    ),
                );
                continue;
            }
            match (kind, value) {
                (Key::Block, None) => args.block = Some(key.span()),
                (Key::ErrorText, None) => args.error_text = Some(key.span()),
                (Key::Output, None) => args.output = Some(key.span()),
                (Key::Block | Key::ErrorText | Key::Output, Some(value)) => push(
                    &mut errors,
                    syn::Error::new(
                        value.span(),
                        format!("`{name}` is a flag and takes no value: write `{name}` alone"),
                    ),
                ),
                (
                    Key::Id
                    | Key::Recorder
                    | Key::Timeout
                    | Key::Retry
                    | Key::RecorderError
                    | Key::Crate,
                    None,
                ) => push(
                    &mut errors,
                    syn::Error::new(
                        key.span(),
                        match name.as_str() {
                            "crate" => {
                                "`crate` needs a value: `crate = \"path::to::tasks_recorder\"`"
                                    .to_string()
                            }
                            "recorder_error" => "`recorder_error` needs a type: the type the \
                                                 function returns a failed launch as, e.g. \
                                                 `recorder_error = tasks_recorder_postgres::Error`"
                                .to_string(),
                            "retry" => "`retry` needs a value: a `tasks_recorder::Retry` \
                                        policy, e.g. `retry = Retry::new(3)`"
                                .to_string(),
                            "timeout" => "`timeout` needs a value: a `std::time::Duration`, \
                                          e.g. `timeout = Duration::from_secs(30)`"
                                .to_string(),
                            _ => format!("`{name}` needs a value: `{name} = <expr>`"),
                        },
                    ),
                ),
                (Key::Id, Some(Value::Expr(value))) => args.id = Some(value),
                (Key::Recorder, Some(Value::Expr(value))) => args.recorder = Some(value),
                (Key::Timeout, Some(Value::Expr(value))) => args.timeout = Some(value),
                (Key::Retry, Some(Value::Expr(value))) => args.retry = Some(value),
                (Key::RecorderError, Some(Value::Type(ty))) => match impl_trait_in(&ty) {
                    Some(impl_trait) => push(
                        &mut errors,
                        syn::Error::new_spanned(
                            impl_trait,
                            "`recorder_error` does not take `impl Trait`: the function's error \
                             type must be named, e.g. `tasks_recorder_postgres::Error` or \
                             `Box<dyn std::error::Error + Send + Sync>`",
                        ),
                    ),
                    None => args.recorder_error = Some(ty),
                },
                (Key::Crate, Some(Value::Expr(value))) => match crate_path(&value) {
                    Ok(path) => args.krate = Some(path),
                    Err(error) => push(&mut errors, error),
                },
                // `Entry::parse` reads a type exactly for `recorder_error`.
                (
                    Key::Id | Key::Recorder | Key::Timeout | Key::Retry | Key::Crate,
                    Some(Value::Type(ty)),
                ) => push(
                    &mut errors,
                    syn::Error::new(ty.span(), format!("`{name}` takes an expression")),
                ),
                (Key::RecorderError, Some(Value::Expr(value))) => push(
                    &mut errors,
                    syn::Error::new(value.span(), "`recorder_error` takes a type"),
                ),
            }
        }
        // `output` hands the task's `Result` back: it goes with neither a retrying task, nor
        // a recorder whose launches can fail, nor a kept error text (the error itself is
        // handed back).
        if let Some(output) = args.output {
            for (other, name) in [
                (args.retry.as_ref().map(Spanned::span), "retry"),
                (
                    args.recorder_error.as_ref().map(Spanned::span),
                    "recorder_error",
                ),
                (args.error_text, "error_text"),
            ] {
                if other.is_some() {
                    push(
                        &mut errors,
                        syn::Error::new(
                            output,
                            format!(
                                "`output` does not go with `{name}`: the wrapper hands back \
                                 the task's own `Result` from an in-memory recorder"
                            ),
                        ),
                    );
                }
            }
        }
        match errors {
            Some(errors) => Err(errors),
            None => Ok(args),
        }
    }
}

/// The first `impl Trait` in `ty`, if any.
fn impl_trait_in(ty: &Type) -> Option<TokenStream> {
    struct Find(Option<TokenStream>);
    impl syn::visit::Visit<'_> for Find {
        fn visit_type_impl_trait(&mut self, impl_trait: &syn::TypeImplTrait) {
            if self.0.is_none() {
                self.0 = Some(quote::ToTokens::to_token_stream(impl_trait));
            }
        }
    }
    let mut find = Find(None);
    syn::visit::Visit::visit_type(&mut find, ty);
    find.0
}

/// The path in `crate = "path"`, spanned at the string literal.
fn crate_path(value: &Expr) -> syn::Result<Path> {
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Str(lit), ..
    }) = value
    else {
        return Err(syn::Error::new(
            value.span(),
            "`crate` takes a path in a string literal: `crate = \"my_reexport::tasks_recorder\"`",
        ));
    };
    lit.parse_with(Path::parse_mod_style).map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "`crate = {:?}` is not a path: write the path to the `tasks_recorder` crate, \
                 e.g. `crate = \"my_reexport::tasks_recorder\"`",
                lit.value()
            ),
        )
    })
}

/// Parses the annotated item: the function, or, for any other item, an error at its name
/// (or first token) saying what it is.
pub fn function(item: TokenStream) -> syn::Result<ItemFn> {
    if let Ok(function) = syn::parse2::<ItemFn>(item.clone()) {
        return Ok(function);
    }
    let (span, what) = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(s)) => (s.ident.span(), "a struct"),
        Ok(syn::Item::Enum(e)) => (e.ident.span(), "an enum"),
        Ok(syn::Item::Union(u)) => (u.ident.span(), "a union"),
        Ok(syn::Item::Trait(t)) => (t.ident.span(), "a trait"),
        Ok(syn::Item::Impl(i)) => (i.impl_token.span, "an impl block"),
        Ok(syn::Item::Mod(m)) => (m.ident.span(), "a module"),
        Ok(syn::Item::Const(c)) => (c.ident.span(), "a constant"),
        Ok(syn::Item::Static(s)) => (s.ident.span(), "a static"),
        Ok(syn::Item::Type(t)) => (t.ident.span(), "a type alias"),
        Ok(syn::Item::Use(u)) => (u.use_token.span, "a `use` item"),
        _ => match syn::parse2::<syn::TraitItemFn>(item.clone()) {
            Ok(f) => (f.sig.ident.span(), "a function without a body"),
            Err(_) => (first_span(&item), "this item"),
        },
    };
    Err(syn::Error::new(
        span,
        format!("`#[recorded_task]` applies to an `async fn` returning a `Result`, not to {what}"),
    ))
}

/// The span of the first token of `tokens`, or the call site if there is none.
fn first_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}
