//! `file::process_csv` on hostile CSV bytes with options chosen by the first two bytes:
//! byte 0 = bit 0 dedupe, bit 1 select columns, bits 2–4 `split_rows` (0: none);
//! byte 1 = which of the names `a`, `b`, `c`, `x` to select (bits 0–3), reversed if bit 4.
//!
//! Besides "no panic": the counts add up; the limits hold; every output file is UTF-8 CSV
//! whose first record is the (selected) header, whose records all have its width, and which
//! holds at most `split_rows` rows; with dedupe no row appears twice; reading the input one
//! byte at a time gives the same result; only the documented refusals occur.
#![no_main]

use std::collections::HashSet;
use std::io::Read;
use std::num::NonZeroU64;

use cutty_core::file::{ListError, ListLimits, ListOptions, process_csv};
use libfuzzer_sys::fuzz_target;

/// A reader that hands out one byte per call.
struct OneByte<'a>(&'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

fn parse(file: &[u8]) -> Vec<Vec<Vec<u8>>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file)
        .byte_records()
        .map(|r| r.expect("output parses").iter().map(<[u8]>::to_vec).collect())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (flags, pick, input) = match data {
        [f, p, rest @ ..] => (*f, *p, rest),
        _ => return,
    };
    let mut names: Vec<String> = ["a", "b", "c", "x"]
        .iter()
        .enumerate()
        .filter(|(i, _)| pick & (1 << i) != 0)
        .map(|(_, n)| (*n).to_owned())
        .collect();
    if pick & 0x10 != 0 {
        names.reverse();
    }
    let options = ListOptions {
        dedupe: flags & 1 != 0,
        columns: (flags & 2 != 0 && !names.is_empty()).then_some(names),
        split_rows: NonZeroU64::new(u64::from((flags >> 2) & 7)),
    };
    let limits = ListLimits {
        max_output_files: 16,
        max_output_bytes: 64 * 1024,
    };

    let result = process_csv(input, &options, &limits);
    let trickled = process_csv(OneByte(input), &options, &limits);
    assert_eq!(
        result.as_ref().ok(),
        trickled.as_ref().ok(),
        "result depends on read sizes"
    );

    let out = match result {
        Ok(out) => out,
        Err(
            ListError::UnknownColumn { .. }
            | ListError::AmbiguousColumn { .. }
            | ListError::InvalidHeader
            | ListError::TooManyFiles { .. }
            | ListError::OutputTooLarge { .. },
        ) => return,
        Err(other) => panic!("unexpected refusal: {other:?}"),
    };
    let s = out.stats;
    assert_eq!(s.rows_in, s.rows_out + s.malformed_rows + s.duplicate_rows);
    assert!(options.dedupe || s.duplicate_rows == 0);
    assert!(!out.files.is_empty() && out.files.len() <= limits.max_output_files);
    assert!(out.files.iter().map(Vec::len).sum::<usize>() as u64 <= limits.max_output_bytes);

    let per_file = options.split_rows.map_or(u64::MAX, NonZeroU64::get);
    let mut header: Option<Vec<Vec<u8>>> = None;
    let mut seen = HashSet::new();
    let mut rows = 0u64;
    for file in &out.files {
        assert!(std::str::from_utf8(file).is_ok(), "output is UTF-8");
        let records = parse(file);
        let Some((first, body)) = records.split_first() else {
            // Only an empty input gives an empty file, and then only one.
            assert!(s.rows_in == 0 && out.files.len() == 1);
            continue;
        };
        match &header {
            None => header = Some(first.clone()),
            Some(h) => assert_eq!(h, first, "every file repeats the header"),
        }
        if let Some(cols) = &options.columns {
            let names: Vec<&[u8]> = cols.iter().map(|c| c.as_bytes()).collect();
            assert_eq!(first.iter().map(Vec::as_slice).collect::<Vec<_>>(), names);
        }
        assert!(body.len() as u64 <= per_file);
        for row in body {
            assert_eq!(row.len(), first.len(), "rows have the header's width");
            if options.dedupe {
                assert!(seen.insert(row.clone()), "duplicate row after dedupe");
            }
        }
        rows += body.len() as u64;
    }
    assert_eq!(rows, s.rows_out);
});
