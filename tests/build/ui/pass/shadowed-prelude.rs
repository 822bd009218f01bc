//! User items named like prelude items (`Result`, `Ok`, `Err`, `Some`, `None`, `Option`,
//! `Box`, `Send`, `Future`, `Into`, `core`, `std`) do not break the expansion.
#![allow(dead_code, non_camel_case_types)]

use ::tasks_recorder::{recorded_task, TaskState};

type Result<T> = ::std::result::Result<T, String>;
struct Ok;
struct Err;
struct Some;
struct None;
struct Option;
struct Box;
struct Send;
struct Future;
struct Into;
mod core {}
mod std {}
mod tasks_recorder {}

#[recorded_task(id = n, block)]
async fn job(n: u8) -> Result<u8> {
    ::std::result::Result::Ok(n)
}

fn main() {
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        ::std::assert_eq!(job(1).await, ::std::result::Result::Ok(()));
        ::std::assert_eq!(job(1).await, ::std::result::Result::Err(TaskState::Success));
    });
}
