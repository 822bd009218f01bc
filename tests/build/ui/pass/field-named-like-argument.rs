//! An argument used only in the id (`key: &str`, borrowed: fine, the task does not keep it)
//! while the body names a field, a method, a path segment, a label or a macro spelled like it
//! (`cfg.key`, `cfg.key()`, `Cfg::key`, `'key`, `key!`): none of these is a use of the
//! argument, so there is no borrow error and no "unused variable" warning.
// Catches the body scan that counted every identifier as a use of the argument of that name.
#![deny(warnings)]

use tasks_recorder::{recorded_task, TaskState};

struct Cfg {
    key: String,
}

impl Cfg {
    fn key(&self) -> &str {
        &self.key
    }

    fn key_len(cfg: &Cfg) -> usize {
        cfg.key.len()
    }
}

macro_rules! key {
    ($cfg:expr) => {
        $cfg.key.clone()
    };
}

#[recorded_task(id = key.to_string(), block)]
async fn sync_key(key: &str, cfg: Cfg) -> Result<usize, String> {
    let mut total = cfg.key.len() + cfg.key().len() + Cfg::key_len(&cfg);
    'key: for _ in 0..1 {
        total += key!(cfg).len();
        println!("{}", cfg.key);
        break 'key;
    }
    Ok(total)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cfg = || Cfg {
            key: "k".to_string(),
        };
        assert_eq!(sync_key("nightly", cfg()).await, Ok(()));
        assert_eq!(sync_key("nightly", cfg()).await, Err(TaskState::Success));
    });
}
