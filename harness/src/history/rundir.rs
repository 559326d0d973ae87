//! The run directory: made empty for a run ([`RunDir::prepare`]), and the parts the
//! checkers need read and written (DESIGN.md, *Run data*): `history.jsonl` (streamed line
//! by line), `snapshots.json`, `master.yaml`, `expect.json` and, when the SUT has the
//! capability, `dead-letters.json`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use andon_contracts::System;
use andon_simulators::MasterData;
use andon_simulators::history::Record;
use andon_simulators::masterdata::MasterDataError;

use super::{Expect, RunData};

/// What the engine records about the run besides the history (its own type lives with
/// the engine); its presence marks a directory as a run directory.
pub const RUN_FILE: &str = "run.json";

/// The history, one JSON record per line.
pub const HISTORY: &str = "history.jsonl";
/// Final state of each simulator: `{"erp": {...}, "mes": {...}, ...}`.
pub const SNAPSHOTS: &str = "snapshots.json";
/// Master data the run started with.
pub const MASTER: &str = "master.yaml";
/// The scenario's expectations, as the engine resolved them.
pub const EXPECT: &str = "expect.json";
/// The SUT's dead letters at the end (absent: the SUT lacks the capability).
pub const DEAD_LETTERS: &str = "dead-letters.json";

/// Why a run directory could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened, read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A line of the history is not a history record.
    #[error("{file}:{line}: not a history record: {message}")]
    HistoryLine {
        /// The file.
        file: PathBuf,
        /// Line number (1-based).
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The history holds no record: a damaged run directory, nothing to judge.
    #[error(
        "{0}: the history holds no record — the run directory is damaged or the run never started; nothing to judge"
    )]
    EmptyHistory(PathBuf),
    /// A JSON file does not have the expected shape.
    #[error("{file}: {message}")]
    Json {
        /// The file.
        file: PathBuf,
        /// What was wrong (with line and column).
        message: String,
    },
    /// The master data file is invalid.
    #[error(transparent)]
    Master(#[from] MasterDataError),
    /// A directory to run into holds files that are not an earlier run's.
    #[error(
        "{0}: the report directory is not empty and is not an andon run directory (no run.json); \
         choose another --report-dir or empty it"
    )]
    NotARunDir(PathBuf),
    /// The master data could not be written as YAML.
    #[error("{file}: {message}")]
    Yaml {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A run directory's paths.
#[derive(Debug, Clone)]
pub struct RunDir(pub PathBuf);

impl RunDir {
    /// A file of the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Makes the directory empty and ready. A run starts from nothing: the SUT keeps its
    /// state under `{run.dir}`, and the same seed gives the same event ids, so a store left
    /// from an earlier run would take every event for a duplicate. A directory of an
    /// earlier run (it has `run.json`) is replaced; any other non-empty one is refused.
    pub fn prepare(&self) -> Result<(), LoadError> {
        match std::fs::read_dir(&self.0) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    if !self.file(RUN_FILE).exists() {
                        return Err(LoadError::NotARunDir(self.0.clone()));
                    }
                    std::fs::remove_dir_all(&self.0).map_err(io(&self.0))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&self.0)(e)),
        }
        std::fs::create_dir_all(&self.0).map_err(io(&self.0))
    }

    /// Writes one file of the run directory.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<(), LoadError> {
        let path = self.file(name);
        std::fs::write(&path, bytes).map_err(io(&path))
    }
}

fn io(file: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        file: file.to_path_buf(),
        source,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> Result<T, LoadError> {
    let f = File::open(file).map_err(io(file))?;
    serde_json::from_reader(BufReader::with_capacity(1 << 20, f)).map_err(|e| LoadError::Json {
        file: file.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_json<T: serde::Serialize>(file: &Path, value: &T) -> Result<(), LoadError> {
    let f = File::create(file).map_err(io(file))?;
    let mut w = BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, value).map_err(|e| LoadError::Json {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    w.write_all(b"\n").map_err(io(file))?;
    w.flush().map_err(io(file))
}

/// Bytes of history handed to a parser at a time.
const CHUNK: usize = 4 << 20;

/// What parsing one chunk came to: its records, or the first bad line (counted from 1
/// within the chunk) and why; and how many lines the chunk has.
type Parsed = (usize, Result<Vec<Record>, (usize, String)>);

/// Parses the complete lines of `chunk`.
fn parse_chunk(chunk: &[u8]) -> Parsed {
    let mut out = Vec::with_capacity(chunk.len() / 300 + 1);
    let mut lines = 0;
    for (i, line) in chunk.split(|b| *b == b'\n').enumerate() {
        lines = i + 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Some(r) = super::history_line::parse(text) {
            out.push(r);
            continue;
        }
        match serde_json::from_slice::<Record>(text) {
            Ok(r) => out.push(r),
            Err(e) => {
                let lines = chunk.iter().filter(|b| **b == b'\n').count();
                return (lines, Err((i + 1, e.to_string())));
            }
        }
    }
    // A chunk ends with a newline (but perhaps the last): its last piece is not a line.
    if chunk.last() == Some(&b'\n') {
        lines -= 1;
    }
    (lines, Ok(out))
}

/// Reads a history written as JSON Lines, streaming: the file is read in chunks of whole
/// lines, parsed by two threads (a chunk at a time, a bounded number in flight) and put
/// back in file order. Blank lines are skipped; a bad line is an error naming the file
/// and line (the first bad one in file order).
pub fn read_history(file: &Path) -> Result<Vec<Record>, LoadError> {
    use std::sync::mpsc;
    let f = File::open(file).map_err(io(file))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::with_capacity(1 << 20, f);
    // A history line is a few hundred bytes: reserve roughly, to avoid regrowing a large Vec.
    let mut out = Reassembly::new(Vec::with_capacity((len / 450).min(4_000_000) as usize));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 2);
    let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(workers * 2);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Parsed)>();
    std::thread::scope(|s| -> Result<(), LoadError> {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            s.spawn(move || {
                loop {
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((n, chunk))) = next else {
                        break;
                    };
                    if done_tx.send((n, parse_chunk(&chunk))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut n = 0usize;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let (chunk, eof) = next_chunk(&mut reader, &mut carry).map_err(io(file))?;
            let Some(chunk) = chunk else { break };
            if work_tx.send((n, chunk)).is_err() {
                break;
            }
            n += 1;
            while let Ok((k, r)) = done_rx.try_recv() {
                out.take(k, r);
            }
            if eof {
                break;
            }
        }
        drop(work_tx);
        for (k, r) in done_rx.iter() {
            out.take(k, r);
        }
        Ok(())
    })?;
    out.finish(file)
}

/// The next chunk of whole lines (up to [`CHUNK`] bytes, more when a line is longer), the
/// part of a line after it kept in `carry`; `None` at the end; and whether the file ended.
fn next_chunk(
    reader: &mut impl Read,
    carry: &mut Vec<u8>,
) -> std::io::Result<(Option<Vec<u8>>, bool)> {
    loop {
        let mut chunk = std::mem::take(carry);
        chunk.reserve(CHUNK + 4096);
        let before = chunk.len();
        reader.take(CHUNK as u64).read_to_end(&mut chunk)?;
        let eof = chunk.len() == before;
        if !eof && let Some(cut) = chunk.iter().rposition(|b| *b == b'\n') {
            *carry = chunk.split_off(cut + 1);
        } else if !eof {
            // No newline in a whole chunk: keep reading into it.
            *carry = chunk;
            continue;
        }
        return Ok(((!chunk.is_empty()).then_some(chunk), eof));
    }
}

/// Parsed chunks put back in file order as they come in from the workers, with the
/// lines of each chunk counted and the first bad line remembered.
struct Reassembly {
    records: Vec<Record>,
    pending: BTreeMap<usize, Vec<Record>>,
    next_out: usize,
    /// Lines per chunk.
    lines: Vec<usize>,
    /// The first bad line: (chunk, line within it, message).
    bad: Option<(usize, usize, String)>,
}

impl Reassembly {
    fn new(records: Vec<Record>) -> Self {
        Self {
            records,
            pending: BTreeMap::new(),
            next_out: 0,
            lines: Vec::new(),
            bad: None,
        }
    }

    /// Takes chunk `n`'s outcome, and appends every chunk that is now next in order.
    fn take(&mut self, n: usize, (count, r): Parsed) {
        if self.lines.len() <= n {
            self.lines.resize(n + 1, 0);
        }
        self.lines[n] = count;
        match r {
            Ok(v) => {
                self.pending.insert(n, v);
            }
            Err((line, message)) => {
                if self
                    .bad
                    .as_ref()
                    .is_none_or(|(c, l, _)| (n, line) < (*c, *l))
                {
                    self.bad = Some((n, line, message));
                }
                self.pending.insert(n, Vec::new());
            }
        }
        while let Some(v) = self.pending.remove(&self.next_out) {
            self.records.extend(v);
            self.next_out += 1;
        }
    }

    /// The records, or the first bad line of the file.
    fn finish(mut self, file: &Path) -> Result<Vec<Record>, LoadError> {
        if let Some((chunk, line, message)) = self.bad {
            return Err(LoadError::HistoryLine {
                file: file.to_path_buf(),
                line: self.lines[..chunk].iter().sum::<usize>() + line,
                message,
            });
        }
        self.records.shrink_to_fit();
        Ok(self.records)
    }
}

/// Writes a history as JSON Lines.
pub fn write_history(file: &Path, records: &[Record]) -> Result<(), LoadError> {
    let f = File::create(file).map_err(io(file))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    for r in records {
        serde_json::to_writer(&mut w, r).map_err(|e| LoadError::Json {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        w.write_all(b"\n").map_err(io(file))?;
    }
    w.flush().map_err(io(file))
}

impl RunData {
    /// Reads a run directory: `history.jsonl`, `snapshots.json` and `master.yaml` are
    /// required; `expect.json` is optional (absent: every checker on, [`Expect::default`]);
    /// `dead-letters.json` is optional (absent: the SUT lacks the capability, `None`).
    pub fn load(dir: &Path) -> Result<RunData, LoadError> {
        let history = dir.join(HISTORY);
        let mut records = read_history(&history)?;
        if records.is_empty() {
            return Err(LoadError::EmptyHistory(history));
        }
        super::trace::attribute_by_trace(&mut records);
        let snapshots: BTreeMap<System, serde_json::Value> = read_json(&dir.join(SNAPSHOTS))?;
        let master = MasterData::load(&dir.join(MASTER))?;
        let expect_file = dir.join(EXPECT);
        let expect: Expect = if expect_file.exists() {
            read_json(&expect_file)?
        } else {
            Expect::default()
        };
        let dl_file = dir.join(DEAD_LETTERS);
        let dead_letters = if dl_file.exists() {
            Some(read_json::<Vec<serde_json::Value>>(&dl_file)?)
        } else {
            None
        };
        Ok(RunData {
            records,
            snapshots,
            master,
            expect,
            dead_letters,
        })
    }

    /// Writes what [`RunData::load`] reads into `dir` (created when missing). Without dead
    /// letters, a stale `dead-letters.json` is removed so that loading gives `None` again.
    pub fn save(&self, dir: &Path) -> Result<(), LoadError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_history(&dir.join(HISTORY), &self.records)?;
        write_json(&dir.join(SNAPSHOTS), &self.snapshots)?;
        let master_file = dir.join(MASTER);
        let yaml = serde_norway::to_string(&self.master).map_err(|e| LoadError::Yaml {
            file: master_file.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&master_file, yaml).map_err(io(&master_file))?;
        write_json(&dir.join(EXPECT), &self.expect)?;
        let dl_file = dir.join(DEAD_LETTERS);
        match &self.dead_letters {
            Some(dl) => write_json(&dl_file, dl)?,
            None => {
                if dl_file.exists() {
                    std::fs::remove_file(&dl_file).map_err(io(&dl_file))?;
                }
            }
        }
        Ok(())
    }
}
