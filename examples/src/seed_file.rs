//! Saving the successes of an in-memory recorder to a file on shutdown, and restoring them at
//! the next start: what the `seeding` example runs, and its test.
//!
//! The file holds one id a line, each as a JSON value (so a `String` id may hold any
//! character, newlines included). It is written to a temporary file beside it and renamed
//! over it, so a crash while saving leaves the previous file whole.

use std::fs;
use std::hash::Hash;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tasks_recorder::{AsyncTasksRecorder, SeedReport};

/// Writes every `Success` id of `recorder` to `path`, replacing the file whole; returns how
/// many it wrote. Call it after the recorder's `shutdown`, when nothing runs any more, so
/// the set is exact.
///
/// ```
/// use tasks_recorder::AsyncTasksRecorder;
/// use tasks_recorder_examples::seed_file;
///
/// let path = std::env::temp_dir().join(format!("seed-doc-save-{}.jsonl", std::process::id()));
/// let pins: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
/// pins.mark_succeeded("cid-1".to_string()).unwrap();
/// assert_eq!(seed_file::save(&pins, &path).unwrap(), 1);
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "\"cid-1\"\n");
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn save<T>(recorder: &AsyncTasksRecorder<T>, path: &Path) -> io::Result<usize>
where
    T: Eq + Hash + Clone + Send + Sync + Serialize + 'static,
{
    let ids = recorder.successes();
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = Path::new(&partial);
    let mut out = BufWriter::new(fs::File::create(partial)?);
    for id in &ids {
        serde_json::to_writer(&mut out, id)?;
        out.write_all(b"\n")?;
    }
    out.into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()?;
    fs::rename(partial, path)?;
    Ok(ids.len())
}

/// Marks every id saved in `path` as succeeded in `recorder` (see
/// [`AsyncTasksRecorder::mark_all_succeeded`]) and returns the report. A missing file is a
/// first start: nothing is marked. A file that does not parse is an
/// [`io::ErrorKind::InvalidData`] error, and nothing is marked.
///
/// ```
/// use tasks_recorder::AsyncTasksRecorder;
/// use tasks_recorder_examples::seed_file;
///
/// let path = std::env::temp_dir().join(format!("seed-doc-restore-{}.jsonl", std::process::id()));
/// std::fs::write(&path, "\"cid-1\"\n\"cid-2\"\n").unwrap();
/// let pins: AsyncTasksRecorder<String> = AsyncTasksRecorder::new();
/// assert_eq!(seed_file::restore(&pins, &path).unwrap().marked, 2);
/// std::fs::write(&path, "not json").unwrap();
/// assert!(seed_file::restore(&pins, &path).is_err());
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn restore<T>(recorder: &AsyncTasksRecorder<T>, path: &Path) -> io::Result<SeedReport<T>>
where
    T: Eq + Hash + Clone + Send + Sync + DeserializeOwned + 'static,
{
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok(recorder.mark_all_succeeded([]))
        }
        Err(error) => return Err(error),
    };
    let ids = serde_json::Deserializer::from_reader(io::BufReader::new(file))
        .into_iter::<T>()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    Ok(recorder.mark_all_succeeded(ids))
}
