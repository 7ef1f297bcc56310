//! Rough throughput of the upload checks and of list processing on a 10 MiB CSV (the
//! default upload limit), next to the floors they are built on: a bare `csv` parse and a
//! bare SHA-256 of the same bytes.
//!
//! `cargo run -p cutty-core --example list_throughput` (cutty-core and its dependencies are
//! optimised even in dev builds). Prints one line per measurement: median of 7 runs.

use std::hint::black_box;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use cutty_core::file::{FileFormat, ListLimits, ListOptions, Sha256Digest, process_csv};

fn median(mut f: impl FnMut()) -> Duration {
    let mut runs: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    runs.sort();
    runs[3]
}

fn main() {
    // 10 MiB of `id,email,name,city` rows, a quarter of them repeated.
    let mut csv = String::from("id,email,name,city\n");
    let mut i = 0u64;
    while csv.len() < 10 << 20 {
        let n = if i % 4 == 3 { i - 3 } else { i };
        csv.push_str(&format!(
            "{n},user{n}@example.org,User {n},\"City, {}\"\n",
            n % 97
        ));
        i += 1;
    }
    let bytes = csv.as_bytes();
    let mib = bytes.len() as f64 / (1024.0 * 1024.0);
    let limits = ListLimits {
        max_output_files: 1000,
        max_output_bytes: 1 << 30,
    };
    let report = |name: &str, d: Duration| {
        println!(
            "{name:<44} {:>8.1} ms {:>8.0} MiB/s",
            d.as_secs_f64() * 1e3,
            mib / d.as_secs_f64()
        );
    };
    println!("input: {mib:.1} MiB, {i} rows");

    report(
        "floor: sha256",
        median(|| {
            black_box(Sha256Digest::of(black_box(bytes)));
        }),
    );
    report(
        "floor: csv ByteRecord parse",
        median(|| {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(black_box(bytes));
            let mut rec = csv::ByteRecord::new();
            let mut n = 0;
            while r.read_byte_record(&mut rec).unwrap() {
                n += rec.len();
            }
            black_box(n);
        }),
    );
    report(
        "floor: csv parse + write (CRLF)",
        median(|| {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(black_box(bytes));
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            let mut rec = csv::ByteRecord::new();
            while r.read_byte_record(&mut rec).unwrap() {
                w.write_byte_record(&rec).unwrap();
            }
            black_box(w.into_inner().unwrap());
        }),
    );
    report(
        "upload check: FileFormat::resolve (csv)",
        median(|| {
            black_box(FileFormat::resolve(Some(FileFormat::Csv), None, black_box(bytes)).unwrap());
        }),
    );
    for (name, options) in [
        ("process_csv: no options", ListOptions::default()),
        (
            "process_csv: dedupe",
            ListOptions {
                dedupe: true,
                ..ListOptions::default()
            },
        ),
        (
            "process_csv: columns [email, name]",
            ListOptions {
                columns: Some(vec!["email".into(), "name".into()]),
                ..ListOptions::default()
            },
        ),
        (
            "process_csv: dedupe + columns + split 100k",
            ListOptions {
                dedupe: true,
                columns: Some(vec!["email".into(), "name".into()]),
                split_rows: NonZeroU64::new(100_000),
            },
        ),
    ] {
        let out = process_csv(bytes, &options, &limits).unwrap();
        assert_eq!(out.stats.rows_in, i);
        report(
            name,
            median(|| {
                black_box(process_csv(black_box(bytes), &options, &limits).unwrap());
            }),
        );
    }
}
