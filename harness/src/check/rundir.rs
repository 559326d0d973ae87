//! Reading and writing the parts of a run directory the checkers need (DESIGN.md, *Run
//! data*): `history.jsonl` (streamed line by line), `snapshots.json`, `master.yaml`,
//! `expect.json` and, when the SUT has the capability, `dead-letters.json`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use andon_contracts::System;
use andon_simulators::MasterData;
use andon_simulators::history::Record;
use andon_simulators::masterdata::MasterDataError;

use super::{Expect, RunData};

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
    /// The master data could not be written as YAML.
    #[error("{file}: {message}")]
    Yaml {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
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
    let mut records: Vec<Record> = Vec::with_capacity((len / 450).min(4_000_000) as usize);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 2);
    let (work_tx, work_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(workers * 2);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Parsed)>();
    // Lines per chunk, and the first bad line as (chunk, line within it, message).
    let mut lines: Vec<usize> = Vec::new();
    let mut bad: Option<(usize, usize, String)> = None;
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
        let mut pending: BTreeMap<usize, Vec<Record>> = BTreeMap::new();
        let mut next_out = 0usize;
        let mut take = |n: usize, (count, r): Parsed, records: &mut Vec<Record>| {
            if lines.len() <= n {
                lines.resize(n + 1, 0);
            }
            lines[n] = count;
            match r {
                Ok(v) => {
                    pending.insert(n, v);
                }
                Err((line, message)) => {
                    if bad.as_ref().is_none_or(|(c, l, _)| (n, line) < (*c, *l)) {
                        bad = Some((n, line, message));
                    }
                    pending.insert(n, Vec::new());
                }
            }
            while let Some(v) = pending.remove(&next_out) {
                records.extend(v);
                next_out += 1;
            }
        };
        let mut n = 0usize;
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let mut chunk = std::mem::take(&mut carry);
            chunk.reserve(CHUNK + 4096);
            let before = chunk.len();
            (&mut reader)
                .take(CHUNK as u64)
                .read_to_end(&mut chunk)
                .map_err(io(file))?;
            let eof = chunk.len() == before;
            if !eof && let Some(cut) = chunk.iter().rposition(|b| *b == b'\n') {
                carry = chunk.split_off(cut + 1);
            } else if !eof {
                // No newline in a whole chunk: keep reading into it.
                carry = chunk;
                continue;
            }
            if chunk.is_empty() {
                break;
            }
            if work_tx.send((n, chunk)).is_err() {
                break;
            }
            n += 1;
            while let Ok((k, r)) = done_rx.try_recv() {
                take(k, r, &mut records);
            }
            if eof {
                break;
            }
        }
        drop(work_tx);
        for (k, r) in done_rx.iter() {
            take(k, r, &mut records);
        }
        Ok(())
    })?;
    if let Some((chunk, line, message)) = bad {
        return Err(LoadError::HistoryLine {
            file: file.to_path_buf(),
            line: lines[..chunk].iter().sum::<usize>() + line,
            message,
        });
    }
    records.shrink_to_fit();
    Ok(records)
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
        let records = read_history(&history)?;
        if records.is_empty() {
            return Err(LoadError::EmptyHistory(history));
        }
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
