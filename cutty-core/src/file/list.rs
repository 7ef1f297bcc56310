//! CSV list processing: de-duplication, column selection and splitting, in one streaming
//! pass.
//!
//! [`process_csv_into`] reads a CSV from any [`Read`] and writes the output files to an
//! [`OutputFiles`] sink; [`process_csv`] collects them in memory. Memory use is one record at
//! a time, plus — with `dedupe` — a 16-byte keyed hash per distinct output row (never the
//! rows): 19–37 bytes of set per distinct row, so under 100 MiB even for a 10 MiB input of
//! the shortest possible distinct rows (3 characters and a line end), and a few MiB for
//! typical ones.
//!
//! # Rules
//! * The input is comma-separated, `"`-quoted CSV (RFC 4180, with `\n`, `\r\n` or `\r` line
//!   ends); one leading UTF-8 BOM is ignored. Blank lines are not records and are skipped
//!   without being counted.
//! * The first record is the **header**; it must be UTF-8 (else `415 FILE_005`) and fixes
//!   the width. It is written at the top of every output file and is not counted as a row.
//! * Every later record is a **row** and counts in `rows_in`. A row with a different number
//!   of fields than the header, or with a field that is not UTF-8, is **malformed**: counted
//!   in `malformed_rows` and skipped.
//! * `columns` selects fields by header name (exact, case-sensitive), in the order given;
//!   the output header is those names. A name that is no header field, or that the header
//!   holds twice, is `400 REQ_001` on `columns`; so is an empty list or a repeated name.
//! * `dedupe` drops every output row equal to an earlier one (whole rows, compared after
//!   column selection — what the output shows), counted as `duplicate_rows`.
//! * `split_rows: N` starts a new output file after every `N` rows; each file holds the
//!   header and at most `N` rows. Without it there is one file.
//! * There is always at least one output file (an input with a header and no rows gives a
//!   file with just the header; an empty input gives one empty file).
//! * Output is RFC 4180: `\r\n` line ends, fields quoted only when they must be.
//! * `rows_in == rows_out + malformed_rows + duplicate_rows` always holds.
//!
//! # Limits ([`ListLimits`])
//! At most `max_output_files` files (default 100; more is `400 REQ_001` on `split_rows`) and
//! `max_output_bytes` bytes over all files (default 64 MiB; more is `413 FILE_004`), so a
//! small `split_rows` or a huge header repeated in every file cannot multiply the output.
//!
//! ```
//! use std::num::NonZeroU64;
//! use cutty_core::file::{ListLimits, ListOptions, process_csv};
//!
//! let input = "email,name\na@x.org,Ada\nb@x.org,Bob\na@x.org,Ada\nbroken\n";
//! let options = ListOptions {
//!     dedupe: true,
//!     columns: Some(vec!["name".into()]),
//!     split_rows: NonZeroU64::new(1),
//! };
//! let out = process_csv(input.as_bytes(), &options, &ListLimits::default()).unwrap();
//! assert_eq!(out.files, vec![b"name\r\nAda\r\n".to_vec(), b"name\r\nBob\r\n".to_vec()]);
//! assert_eq!((out.stats.rows_in, out.stats.rows_out), (4, 2));
//! assert_eq!((out.stats.malformed_rows, out.stats.duplicate_rows), (1, 1));
//! ```

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::num::NonZeroU64;

use crate::error::{Error, ErrorCode, FieldViolation, StoreError, StoreErrorKind};
use crate::prehashed::PassThroughBuilder;

/// What to do with the rows. The default keeps every well-formed row in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Drop rows equal to an earlier output row.
    pub dedupe: bool,
    /// Keep only these columns, by header name, in this order.
    pub columns: Option<Vec<String>>,
    /// At most this many rows per output file.
    pub split_rows: Option<NonZeroU64>,
}

/// Bounds on what one run may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// Most output files. Default 100: each becomes a stored file with its own metadata row.
    pub max_output_files: usize,
    /// Most bytes over all output files. Default 64 MiB: room for a 10 MiB input whose
    /// fields all need quoting, split into many files that each repeat the header.
    pub max_output_bytes: u64,
}

impl Default for ListLimits {
    fn default() -> Self {
        Self {
            max_output_files: 100,
            max_output_bytes: 64 << 20,
        }
    }
}

/// What a run did. `rows_in == rows_out + malformed_rows + duplicate_rows`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListStats {
    /// Rows read (records after the header).
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Rows skipped for a wrong number of fields or a field that is not UTF-8.
    pub malformed_rows: u64,
    /// Rows skipped as duplicates (only with `dedupe`).
    pub duplicate_rows: u64,
}

/// The result of [`process_csv`]: the output files' contents and the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOutput {
    /// Each output file's bytes, in order.
    pub files: Vec<Vec<u8>>,
    /// The counts.
    pub stats: ListStats,
}

/// Why a run was refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// An option is invalid (`REQ_001` on `field`).
    #[error("invalid {field}: {message}")]
    InvalidOption {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        message: &'static str,
    },
    /// `columns[index]` is not a header field (`REQ_001`).
    #[error("columns[{index}] names no column of the file")]
    UnknownColumn {
        /// Position in `columns`.
        index: usize,
    },
    /// `columns[index]` names a header field that occurs more than once (`REQ_001`).
    #[error("columns[{index}] names more than one column of the file")]
    AmbiguousColumn {
        /// Position in `columns`.
        index: usize,
    },
    /// The header row is not UTF-8 (`415 FILE_005`).
    #[error("the header row is not UTF-8")]
    InvalidHeader,
    /// The output would need more than `max` files (`REQ_001` on `split_rows`).
    #[error("more than {max} output files")]
    TooManyFiles {
        /// The limit.
        max: usize,
    },
    /// The output would exceed `max` bytes (`413 FILE_004`).
    #[error("output larger than {max} bytes")]
    OutputTooLarge {
        /// The limit.
        max: u64,
    },
    /// Reading the input failed.
    #[error("reading the input failed")]
    Read(#[source] io::Error),
    /// Writing an output file failed.
    #[error("writing an output file failed")]
    Write(#[source] io::Error),
}

impl From<ListError> for Error {
    fn from(e: ListError) -> Self {
        let field = |field: &'static str, message: Cow<'static, str>| {
            Error::InvalidRequest(vec![FieldViolation::new(field, message)])
        };
        match e {
            ListError::InvalidOption { field: f, message } => field(f, message.into()),
            ListError::UnknownColumn { index } => field(
                "columns",
                format!("columns[{index}] is not a column of the file").into(),
            ),
            ListError::AmbiguousColumn { index } => field(
                "columns",
                format!("columns[{index}] names more than one column of the file").into(),
            ),
            ListError::TooManyFiles { max } => field(
                "split_rows",
                format!("would split the file into more than {max} files").into(),
            ),
            ListError::InvalidHeader => Error::Code(ErrorCode::InvalidFileFormat),
            ListError::OutputTooLarge { .. } => Error::Code(ErrorCode::FileTooLarge),
            e @ (ListError::Read(_) | ListError::Write(_)) => Error::FileStorage(
                StoreError::new(StoreErrorKind::Unavailable, "list processing I/O").with_source(e),
            ),
        }
    }
}

/// Where output files go: a sink that opens one file at a time.
pub trait OutputFiles {
    /// One open output file.
    type File: Write;
    /// Opens the next output file.
    fn create(&mut self) -> io::Result<Self::File>;
    /// Closes a file [`create`](Self::create) opened, once all its bytes are written.
    fn finish(&mut self, file: Self::File) -> io::Result<()>;
}

/// Collects output files in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InMemoryOutputs {
    /// The finished files, in order.
    pub files: Vec<Vec<u8>>,
}

impl OutputFiles for InMemoryOutputs {
    type File = Vec<u8>;
    fn create(&mut self) -> io::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn finish(&mut self, file: Vec<u8>) -> io::Result<()> {
        self.files.push(file);
        Ok(())
    }
}

/// Processes `input` and returns the output files' contents. See the [module](self) docs.
pub fn process_csv<R: Read>(
    input: R,
    options: &ListOptions,
    limits: &ListLimits,
) -> Result<ListOutput, ListError> {
    let mut outputs = InMemoryOutputs::default();
    let stats = process_csv_into(input, options, limits, &mut outputs)?;
    Ok(ListOutput {
        files: outputs.files,
        stats,
    })
}

impl ListOptions {
    /// Checks the options on their own (before any input is read): `columns` must be
    /// non-empty and hold no name twice.
    pub fn validate(&self) -> Result<(), ListError> {
        if let Some(columns) = &self.columns {
            if columns.is_empty() {
                return Err(ListError::InvalidOption {
                    field: "columns",
                    message: "must name at least one column",
                });
            }
            let mut seen = HashSet::with_capacity(columns.len());
            if !columns.iter().all(|c| seen.insert(c.as_str())) {
                return Err(ListError::InvalidOption {
                    field: "columns",
                    message: "must not name a column twice",
                });
            }
        }
        Ok(())
    }
}

/// Processes `input` into `outputs`. See the [module](self) docs.
///
/// On an error the files already finished stay in `outputs`; the caller discards them.
pub fn process_csv_into<R: Read, O: OutputFiles>(
    input: R,
    options: &ListOptions,
    limits: &ListLimits,
    outputs: &mut O,
) -> Result<ListStats, ListError> {
    options.validate()?;
    let input = EagerHead::new(input).map_err(ListError::Read)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let budget = Cell::new(limits.max_output_bytes);
    let mut sink = Sink {
        outputs,
        budget: &budget,
        limits,
        files_made: 0,
    };
    let mut stats = ListStats::default();

    if !read(&mut reader, &mut record)? {
        if options.columns.is_some() {
            return Err(ListError::UnknownColumn { index: 0 });
        }
        let file = sink.open()?;
        sink.close(file)?;
        return Ok(stats);
    }
    if !record.iter().all(|f| std::str::from_utf8(f).is_ok()) {
        return Err(ListError::InvalidHeader);
    }
    let width = record.len();
    let projection: Option<Vec<usize>> = match &options.columns {
        None => None,
        Some(columns) => Some(
            columns
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    let mut found = record
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| *f == name.as_bytes());
                    match (found.next(), found.next()) {
                        (Some((i, _)), None) => Ok(i),
                        (None, _) => Err(ListError::UnknownColumn { index }),
                        (Some(_), Some(_)) => Err(ListError::AmbiguousColumn { index }),
                    }
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let mut row = csv::ByteRecord::new();
    project(&record, projection.as_deref(), &mut row);
    let header = row.clone();

    // Its keys are already uniformly distributed keyed hashes: no second hash.
    let mut seen: HashSet<u128, PassThroughBuilder> = HashSet::default();
    let hasher = RowHasher::new();
    let mut current = sink.open()?;
    sink.write(&mut current.0, &header)?;
    while read(&mut reader, &mut record)? {
        stats.rows_in += 1;
        if record.len() != width || !record.iter().all(|f| std::str::from_utf8(f).is_ok()) {
            stats.malformed_rows += 1;
            continue;
        }
        project(&record, projection.as_deref(), &mut row);
        if options.dedupe && !seen.insert(hasher.hash(&row)) {
            stats.duplicate_rows += 1;
            continue;
        }
        if options.split_rows.is_some_and(|n| current.1 >= n.get()) {
            let full = std::mem::replace(&mut current, sink.open()?);
            sink.close(full)?;
            sink.write(&mut current.0, &header)?;
        }
        sink.write(&mut current.0, &row)?;
        current.1 += 1;
        stats.rows_out += 1;
    }
    sink.close(current)?;
    Ok(stats)
}

fn read<R: Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
) -> Result<bool, ListError> {
    reader.read_byte_record(record).map_err(|e| {
        let kind = e.kind();
        let message = format!("{kind:?}");
        match e.into_kind() {
            csv::ErrorKind::Io(io) => ListError::Read(io),
            // With `flexible` and byte records the parser reports nothing else; keep any
            // future kind as a read failure rather than a panic.
            _ => ListError::Read(io::Error::other(message)),
        }
    })
}

fn project(record: &csv::ByteRecord, projection: Option<&[usize]>, out: &mut csv::ByteRecord) {
    out.clear();
    match projection {
        None => out.extend(record.iter()),
        Some(indices) => {
            for &i in indices {
                out.push_field(record.get(i).unwrap_or_default());
            }
        }
    }
}

/// 128 bits identifying a row: two SipHash values under a key drawn at random for this run
/// (std's `RandomState`), over domain-separated copies of an unambiguous encoding of the
/// row (field count, then each field's length and bytes).
///
/// Keyed, so the values cannot be predicted from the file, and 128 bits wide, so two
/// different rows in one file collide with negligible probability (about n²/2¹²⁹ for n
/// rows). It is four to eight times cheaper per row than SHA-256, which matters because
/// it runs once per row. (The file's owner is the only one who could try to provoke a
/// collision, and only against their own output.)
struct RowHasher(std::collections::hash_map::RandomState);

impl RowHasher {
    fn new() -> Self {
        Self(std::collections::hash_map::RandomState::new())
    }

    fn hash(&self, row: &csv::ByteRecord) -> u128 {
        use std::hash::{BuildHasher as _, Hasher as _};
        let half = |domain: u8| {
            let mut h = self.0.build_hasher();
            h.write_u8(domain);
            h.write_u64(row.len() as u64);
            for field in row {
                h.write_u64(field.len() as u64);
                h.write(field);
            }
            h.finish()
        };
        (u128::from(half(0)) << 64) | u128::from(half(1))
    }
}

/// Output state: the sink, the shared byte budget and the file count.
struct Sink<'a, O: OutputFiles> {
    outputs: &'a mut O,
    budget: &'a Cell<u64>,
    limits: &'a ListLimits,
    files_made: usize,
}

type OpenFile<'a, F> = (csv::Writer<Budgeted<'a, F>>, u64);

impl<'a, O: OutputFiles> Sink<'a, O> {
    fn open(&mut self) -> Result<OpenFile<'a, O::File>, ListError> {
        if self.files_made >= self.limits.max_output_files {
            return Err(ListError::TooManyFiles {
                max: self.limits.max_output_files,
            });
        }
        self.files_made += 1;
        let file = self.outputs.create().map_err(ListError::Write)?;
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Budgeted {
                inner: file,
                budget: self.budget,
            });
        Ok((writer, 0))
    }

    fn write(
        &self,
        writer: &mut csv::Writer<Budgeted<'a, O::File>>,
        row: &csv::ByteRecord,
    ) -> Result<(), ListError> {
        writer
            .write_byte_record(row)
            .map_err(|e| self.write_error(e))
    }

    fn close(&mut self, (writer, _): OpenFile<'a, O::File>) -> Result<(), ListError> {
        let file = writer
            .into_inner()
            .map_err(|e| self.io_error(e.into_error()))?;
        self.outputs.finish(file.inner).map_err(ListError::Write)
    }

    fn write_error(&self, e: csv::Error) -> ListError {
        let message = format!("{:?}", e.kind());
        match e.into_kind() {
            csv::ErrorKind::Io(io) => self.io_error(io),
            _ => ListError::Write(io::Error::other(message)),
        }
    }

    fn io_error(&self, e: io::Error) -> ListError {
        if e.get_ref().is_some_and(|inner| inner.is::<OverBudget>()) {
            ListError::OutputTooLarge {
                max: self.limits.max_output_bytes,
            }
        } else {
            ListError::Write(e)
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("output byte budget exhausted")]
struct OverBudget;

/// A writer that refuses to write past a byte budget shared by every output file.
struct Budgeted<'a, W> {
    inner: W,
    budget: &'a Cell<u64>,
}

impl<W: Write> Write for Budgeted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.budget.get();
        if buf.len() as u64 > left {
            return Err(io::Error::other(OverBudget));
        }
        let n = self.inner.write(buf)?;
        self.budget.set(left - n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the first four bytes before anything else and hands them out in the first read.
///
/// The CSV parser strips a leading BOM only when its first buffer holds all three bytes,
/// and takes a first buffer that is *only* the BOM for the end of the input. Four eager
/// bytes avoid both, so the result never depends on how the underlying reader splits its
/// reads (a property test checks this).
struct EagerHead<R> {
    head: [u8; 4],
    len: usize,
    pos: usize,
    inner: R,
}

impl<R: Read> EagerHead<R> {
    fn new(mut inner: R) -> io::Result<Self> {
        let mut head = [0u8; 4];
        let mut len = 0;
        while let Some(rest) = head.get_mut(len..).filter(|r| !r.is_empty()) {
            match inner.read(rest) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            head,
            len,
            pos: 0,
            inner,
        })
    }
}

impl<R: Read> Read for EagerHead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(pending) = self.head.get(self.pos..self.len).filter(|p| !p.is_empty()) {
            let n = pending.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), pending.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}
