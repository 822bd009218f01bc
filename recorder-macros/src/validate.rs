//! Stage 2: check that the function can become a recorded launch, reporting every misuse at
//! the user's own tokens, all at once.

use std::collections::HashSet;

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::visit::Visit;
use syn::{FnArg, ItemFn, ReturnType};

/// Checks `function`, combining every error found. `missing_id` reports that the attribute
/// has no `id = ...` (at the function's name: there is no key to point at).
pub fn validate(function: &ItemFn, missing_id: bool) -> syn::Result<()> {
    let sig = &function.sig;
    let mut errors: Vec<syn::Error> = Vec::new();

    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "`#[recorded_task]` applies to an `async fn`: write `async fn`",
        ));
    }
    if missing_id {
        errors.push(syn::Error::new(
            sig.ident.span(),
            format!(
                "`#[recorded_task]` needs the id to record `{}` under: add `id = <expr>`, \
                 e.g. `#[recorded_task(id = upload.md5.clone())]`",
                sig.ident
            ),
        ));
    }
    if let ReturnType::Default = sig.output {
        errors.push(syn::Error::new(
            sig.paren_token.span.close(),
            "`#[recorded_task]` needs a function returning a `Result`: the recorder records \
             `Ok` as `Success` and `Err` as `Failed`; add `-> Result<T, E>`",
        ));
    }

    if let ReturnType::Type(_, ret) = &sig.output {
        let mut impl_traits = ImplTraits::default();
        impl_traits.visit_type(ret);
        errors.extend(impl_traits.found);
    }

    let body_idents = idents(&function.block);
    let instrumented = recorded_by_instrument(function);
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "`#[recorded_task]` cannot take `self`: the function runs as a task that \
                 outlives the call, so it cannot keep a borrow of `self`; make it an \
                 associated function taking owned values (clone what it needs, or share it \
                 with `Arc`)",
            )),
            FnArg::Typed(typed) => {
                // Only an argument the body names is kept by the task.
                let mut bound = Bindings::default();
                bound.visit_pat(&typed.pat);
                // `#[instrument]` moves above `#[recorded_task]` (see `expand`), so the span it
                // records the argument in is made in the task, too.
                let message = if bound.0.iter().any(|name| body_idents.contains(name)) {
                    BORROWED
                } else if bound.0.iter().any(|name| instrumented.contains(name)) {
                    BORROWED_BY_INSTRUMENT
                } else {
                    continue;
                };
                let mut borrows = Borrows::new(message);
                borrows.visit_type(&typed.ty);
                errors.extend(borrows.found);
            }
        }
    }

    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            first.extend(errors);
            Err(first)
        }
    }
}

/// The error for a borrow in an argument the task keeps.
const BORROWED: &str = "`#[recorded_task]` moves this argument into a task that outlives the \
                        call, so it cannot be borrowed: take an owned value (e.g. `String` for \
                        `&str`, `Vec<T>` for `&[T]`) or share it with `Arc<T>`";

/// The error for a borrow in an argument that only `#[instrument]` uses.
const BORROWED_BY_INSTRUMENT: &str = "`#[instrument]` records this argument in the span of the \
                                      task, which outlives the call, so it cannot be borrowed: \
                                      leave it out of the span with \
                                      `#[instrument(skip(..))]`, or take an owned value";

/// The names that the `#[instrument]` attributes of `function` record in their span (an
/// over-approximation, read from their arguments): every argument but those in `skip(..)`
/// (none with `skip_all`), and the names used in the values of `fields(..)`.
fn recorded_by_instrument(function: &ItemFn) -> HashSet<String> {
    let mut recorded = HashSet::new();
    let arguments: Vec<String> = function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .flat_map(|typed| {
            let mut bound = Bindings::default();
            bound.visit_pat(&typed.pat);
            bound.0
        })
        .collect();
    let instruments = function.attrs.iter().filter(|attr| {
        matches!(attr.style, syn::AttrStyle::Outer)
            && attr
                .path()
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "instrument")
    });
    for attr in instruments {
        let tokens: Vec<TokenTree> = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone().into_iter().collect(),
            _ => Vec::new(),
        };
        let group_after = |key: &str| {
            tokens.windows(2).find_map(|pair| match pair {
                [TokenTree::Ident(ident), TokenTree::Group(group)] if ident == key => {
                    Some(group.stream())
                }
                _ => None,
            })
        };
        let skip_all = tokens
            .iter()
            .any(|token| matches!(token, TokenTree::Ident(ident) if ident == "skip_all"));
        let skipped: HashSet<String> = group_after("skip")
            .into_iter()
            .flatten()
            .filter_map(|token| match token {
                TokenTree::Ident(ident) => Some(ident.to_string()),
                _ => None,
            })
            .collect();
        if !skip_all {
            recorded.extend(
                arguments
                    .iter()
                    .filter(|name| !skipped.contains(*name))
                    .cloned(),
            );
        }
        if let Some(fields) = group_after("fields") {
            recorded.extend(field_values(fields));
        }
    }
    recorded
}

/// The names used in the values of `fields(name = value, %name, ?name, name)`: after the
/// `=` of each field, or after its `%` / `?` (a bare name is an empty field, not a use).
fn field_values(fields: TokenStream) -> HashSet<String> {
    let mut used = HashSet::new();
    let tokens: Vec<TokenTree> = fields.into_iter().collect();
    for field in
        tokens.split(|token| matches!(token, TokenTree::Punct(punct) if punct.as_char() == ','))
    {
        let value_at = field.iter().position(|token| {
            matches!(token, TokenTree::Punct(punct)
                if punct.as_char() == '=' && punct.spacing() == Spacing::Alone)
        });
        let value = match (value_at, field.first()) {
            (Some(at), _) => &field[at + 1..],
            (None, Some(TokenTree::Punct(punct))) if matches!(punct.as_char(), '%' | '?') => {
                &field[1..]
            }
            _ => continue,
        };
        used.extend(tokens_idents(value.iter().cloned().collect()));
    }
    used
}

/// The names the body may use as variables: an over-approximation (a name that is bound again
/// in the body still counts), read from the body's tokens so that macro invocations, whose
/// arguments are token trees, are read too. Not counted, since they never name a variable:
/// a field or method name (`cfg.key`, `cfg.key()`, but `0..key` is a use), a path segment
/// after `::` (`Self::key`, `Mode::key`), a lifetime or label (`'key`), a macro name
/// (`key!(..)`). Counted besides: the names in the `{name}` placeholders of string literals,
/// which `format!("{name}")` and the like capture.
fn idents(block: &syn::Block) -> HashSet<String> {
    tokens_idents(quote::ToTokens::to_token_stream(block))
}

/// The names `tokens` may use as variables: see [`idents`].
fn tokens_idents(tokens: TokenStream) -> HashSet<String> {
    fn walk(tokens: TokenStream, out: &mut HashSet<String>) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (at, token) in tokens.iter().enumerate() {
            match token {
                TokenTree::Ident(ident) => {
                    if !names_no_variable(&tokens[..at], &tokens[at + 1..]) {
                        out.insert(ident.to_string());
                    }
                }
                TokenTree::Group(group) => walk(group.stream(), out),
                TokenTree::Literal(literal) => placeholders(literal, out),
                TokenTree::Punct(_) => {}
            }
        }
    }
    let mut out = HashSet::new();
    walk(tokens, &mut out);
    out
}

/// Whether the identifier between `before` and `after` (tokens of one group) is a field or
/// method name, a path segment after `::`, a lifetime or label, or a macro name.
fn names_no_variable(before: &[TokenTree], after: &[TokenTree]) -> bool {
    let punct = |token: Option<&TokenTree>, char: char| matches!(token, Some(TokenTree::Punct(punct)) if punct.as_char() == char);
    let joint = |token: Option<&TokenTree>, char: char| {
        matches!(token, Some(TokenTree::Punct(punct))
            if punct.as_char() == char && punct.spacing() == Spacing::Joint)
    };
    let last = before.last();
    let second_last = before.len().checked_sub(2).and_then(|at| before.get(at));
    // `a.key`, but not `a..key` (a range), whose last dot follows a joint one.
    let member = punct(last, '.') && !joint(second_last, '.');
    // `a::key`: the last colon follows a joint one.
    let segment = punct(last, ':') && joint(second_last, ':');
    let lifetime = punct(last, '\'');
    let macro_name = punct(after.first(), '!')
        && !joint(after.first(), '!')
        && matches!(after.get(1), Some(TokenTree::Group(_)));
    member || segment || lifetime || macro_name
}

/// Adds the names of the `{name}` and `{name:spec}` placeholders of a string literal (as
/// `format!`, `println!`, `write!`... capture them) to `out`.
fn placeholders(literal: &proc_macro2::Literal, out: &mut HashSet<String>) {
    let syn::Lit::Str(text) = syn::Lit::new(literal.clone()) else {
        return;
    };
    let text = text.value();
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(escaped) = rest.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|char| char.is_alphanumeric() || *char == '_')
            .collect();
        let starts_a_name = name
            .chars()
            .next()
            .is_some_and(|first| first.is_alphabetic() || first == '_');
        if starts_a_name && name != "_" {
            out.insert(name);
        }
    }
}

/// The error for `impl Trait` in the return type.
const IMPL_TRAIT: &str = "`#[recorded_task]` does not take `impl Trait` in the return type: the \
                          body runs as a task whose `Ok` value the recorder drops, and its type \
                          must be named; write the type (or `()` if the value is of no use), \
                          or box it (`Box<dyn Debug + Send>`)";

/// The `impl Trait` types in a return type, each an error.
#[derive(Default)]
struct ImplTraits {
    found: Vec<syn::Error>,
}

impl Visit<'_> for ImplTraits {
    fn visit_type_impl_trait(&mut self, impl_trait: &syn::TypeImplTrait) {
        self.found
            .push(syn::Error::new_spanned(impl_trait, IMPL_TRAIT));
    }
}

/// The names an argument pattern binds.
#[derive(Default)]
struct Bindings(Vec<String>);

impl Visit<'_> for Bindings {
    fn visit_pat_ident(&mut self, pat: &syn::PatIdent) {
        self.0.push(pat.ident.to_string());
        syn::visit::visit_pat_ident(self, pat);
    }
}

/// The spans of the borrows in a type: a reference or a lifetime other than `'static`. The
/// lifetimes of `fn(&T)`, `Fn(&T)` and `for<'a>` are not borrows the value holds.
struct Borrows {
    found: Vec<syn::Error>,
    higher_ranked: Vec<String>,
    /// The error for each borrow.
    message: &'static str,
}

impl Borrows {
    fn new(message: &'static str) -> Self {
        Borrows {
            found: Vec::new(),
            higher_ranked: Vec::new(),
            message,
        }
    }

    fn is_borrow(&self, lifetime: Option<&syn::Lifetime>) -> bool {
        match lifetime {
            None => true,
            Some(lifetime) => {
                let name = lifetime.ident.to_string();
                name != "static" && !self.higher_ranked.contains(&name)
            }
        }
    }
}

impl Visit<'_> for Borrows {
    fn visit_type_reference(&mut self, reference: &syn::TypeReference) {
        if self.is_borrow(reference.lifetime.as_ref()) {
            self.found
                .push(syn::Error::new_spanned(reference, self.message));
            // One error per reference is enough: do not look for lifetimes inside it.
            return;
        }
        self.visit_type(&reference.elem);
    }

    fn visit_lifetime(&mut self, lifetime: &syn::Lifetime) {
        if self.is_borrow(Some(lifetime)) {
            self.found
                .push(syn::Error::new_spanned(lifetime, self.message));
        }
    }

    fn visit_type_bare_fn(&mut self, _: &syn::TypeBareFn) {}

    fn visit_parenthesized_generic_arguments(&mut self, _: &syn::ParenthesizedGenericArguments) {}

    fn visit_trait_bound(&mut self, bound: &syn::TraitBound) {
        let before = self.higher_ranked.len();
        if let Some(lifetimes) = &bound.lifetimes {
            for param in &lifetimes.lifetimes {
                if let syn::GenericParam::Lifetime(param) = param {
                    self.higher_ranked.push(param.lifetime.ident.to_string());
                }
            }
        }
        self.visit_path(&bound.path);
        self.higher_ranked.truncate(before);
    }
}

/// With `retry`, the function runs again for each try, on clones of its arguments: each
/// argument must be a plain name (`x: T` or `mut x: T`), and `block` is not supported (a
/// retrying task is spawned).
pub fn retryable(function: &ItemFn, block: Option<proc_macro2::Span>) -> syn::Result<()> {
    let mut errors: Vec<syn::Error> = Vec::new();
    if let Some(block) = block {
        errors.push(syn::Error::new(
            block,
            "`retry` does not go with `block`: a retrying task is spawned; drop `block`, and \
             `wait` for the id to see its end",
        ));
    }
    for input in &function.sig.inputs {
        if let FnArg::Typed(typed) = input {
            if !matches!(&*typed.pat, syn::Pat::Ident(pat) if pat.subpat.is_none() && pat.by_ref.is_none())
            {
                errors.push(syn::Error::new_spanned(
                    &typed.pat,
                    "with `retry`, the function runs again for each try on clones of its \
                     arguments: give this argument a plain name (`name: Type`) and destructure \
                     it in the body",
                ));
            }
        }
    }
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            for more in errors {
                first.combine(more);
            }
            Err(first)
        }
    }
}
