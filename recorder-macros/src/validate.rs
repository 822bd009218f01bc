//! Stage 2: check that the function can become a recorded launch, reporting every misuse at
//! the user's own tokens, all at once.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
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

    let body_idents = idents(&function.block);
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
                if !bound.0.iter().any(|name| body_idents.contains(name)) {
                    continue;
                }
                let mut borrows = Borrows::default();
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

/// Every identifier in the body's tokens (an over-approximation of the names it uses).
fn idents(block: &syn::Block) -> HashSet<String> {
    fn walk(tokens: TokenStream, out: &mut HashSet<String>) {
        for token in tokens {
            match token {
                TokenTree::Ident(ident) => {
                    out.insert(ident.to_string());
                }
                TokenTree::Group(group) => walk(group.stream(), out),
                TokenTree::Punct(_) | TokenTree::Literal(_) => {}
            }
        }
    }
    let mut out = HashSet::new();
    walk(quote::ToTokens::to_token_stream(block), &mut out);
    out
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
#[derive(Default)]
struct Borrows {
    found: Vec<syn::Error>,
    higher_ranked: Vec<String>,
}

impl Borrows {
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
                .push(syn::Error::new_spanned(reference, BORROWED));
            // One error per reference is enough: do not look for lifetimes inside it.
            return;
        }
        self.visit_type(&reference.elem);
    }

    fn visit_lifetime(&mut self, lifetime: &syn::Lifetime) {
        if self.is_borrow(Some(lifetime)) {
            self.found.push(syn::Error::new_spanned(lifetime, BORROWED));
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
