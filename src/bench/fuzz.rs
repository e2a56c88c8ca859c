//! `watershed bench fuzz`: the two decoders that take bytes from outside — an ingest request body
//! and a CloudEvent from Kafka — run on millions of inputs made by mutating valid ones (bit flips,
//! cut, spliced and repeated spans, boundary numbers and dates). Every input must come back as a
//! value or an error; a panic is counted, the first one saved to a file, and the run fails.
//! Seeded, so a failing run can be repeated.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::message::{Header, OwnedHeaders};
use watershed_domain::event::{EventMeta, RecordedEvent};
use watershed_domain::DeviceId;
use watershed_infra::kafka::cloudevents;

#[derive(Debug, Args)]
pub struct BenchFuzzArgs {
    /// Inputs to try in all, split evenly between the two decoders.
    #[arg(long, default_value_t = 2_000_000)]
    executions: u64,
    /// Seed of the input generator; the same seed tries the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the first input that panicked is written.
    #[arg(long, default_value = "fuzz-crash.bin")]
    crash_file: PathBuf,
}

/// Valid request bodies the mutations start from.
const BODIES: [&str; 3] = [
    r#"{"batch_id":"b-1","readings":[{"sensor":"temperature","value":21.5,"unit":"C","measured_at":"2026-11-30T10:00:00Z"}]}"#,
    r#"{"batch_id":"x:y/z+=","readings":[{"sensor":"a.b/c","value":-1.7976931348623157e308,"measured_at":"1970-01-01T00:00:00Z"},{"sensor":"d","value":5e-324,"unit":"µS/cm","measured_at":"2026-11-30T10:00:00.123456+01:00"}]}"#,
    r#"{"batch_id":"b","readings":[]}"#,
];

/// Fragments spliced into inputs: what breaks parsers at the edges.
const TOKENS: [&str; 16] = [
    "1e999",
    "-0",
    "-5000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "\u{0}",
    "\\u0000",
    "\"",
    "{",
    "]",
    "null",
    "1.7976931348623157e308",
    "18446744073709551616",
    "\u{202e}",
    "NaN",
    "\\ud800",
    "ce_streamseq",
];

#[derive(Default)]
struct Tally {
    executions: u64,
    accepted: u64,
    panics: u64,
}

pub fn run(args: BenchFuzzArgs) -> anyhow::Result<()> {
    // A panic is an expected outcome here, counted and reported below, not printed as it happens.
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = SmallRng::seed_from_u64(args.seed);
    let now: DateTime<Utc> = "2026-11-30T10:02:00Z".parse().expect("a valid instant");
    let template = template_event();
    let progress = ProgressBar::new(args.executions).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} inputs {per_sec} eta {eta}")
            .expect("a valid progress template"),
    );
    let (mut ingest, mut events) = (Tally::default(), Tally::default());
    let mut first_crash: Option<Vec<u8>> = None;
    let started = Instant::now();
    for i in 0..args.executions {
        if i % 2 == 0 {
            let seed = BODIES[rng.gen_range(0..BODIES.len())];
            let body = mutate(&mut rng, seed.as_bytes());
            let outcome = catch_unwind(|| watershed_command_api::decode_batch(&body, now).is_ok());
            record(&mut ingest, outcome, &mut first_crash, || body.clone());
        } else {
            let (headers, payload) = mutated_message(&mut rng, &template);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                cloudevents::decode(Some(&headers), payload.as_deref()).is_ok()
            }));
            record(&mut events, outcome, &mut first_crash, || {
                format!("{headers:?}\n{payload:?}").into_bytes()
            });
        }
        if i % 4096 == 0 {
            progress.set_position(i);
        }
    }
    progress.finish_and_clear();
    let _ = std::panic::take_hook();
    let elapsed = started.elapsed().as_secs_f64();
    for (name, tally) in [("ingest body", &ingest), ("CloudEvent", &events)] {
        println!(
            "bench fuzz: {name:<12} {:>10} inputs, {:>9} accepted, {} panics",
            tally.executions, tally.accepted, tally.panics
        );
    }
    let total = ingest.executions + events.executions;
    println!(
        "bench fuzz: {total} inputs in {elapsed:.1} s ({:.0}/s), seed {}",
        total as f64 / elapsed,
        args.seed
    );
    if let Some(input) = first_crash {
        std::fs::write(&args.crash_file, input)?;
        anyhow::bail!(
            "{} inputs panicked; the first is in {}",
            ingest.panics + events.panics,
            args.crash_file.display()
        );
    }
    Ok(())
}

fn record(
    tally: &mut Tally,
    outcome: std::thread::Result<bool>,
    first_crash: &mut Option<Vec<u8>>,
    input: impl FnOnce() -> Vec<u8>,
) {
    tally.executions += 1;
    match outcome {
        Ok(accepted) => tally.accepted += u64::from(accepted),
        Err(_) => {
            tally.panics += 1;
            first_crash.get_or_insert_with(input);
        }
    }
}

/// One to four mutations of `seed`.
fn mutate(rng: &mut SmallRng, seed: &[u8]) -> Vec<u8> {
    let mut input = seed.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let at = rng.gen_range(0..=input.len());
        match rng.gen_range(0..6) {
            0 if !input.is_empty() => {
                let i = rng.gen_range(0..input.len());
                input[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => input.truncate(at),
            2 => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())].as_bytes();
                input.splice(at..at, token.iter().copied());
            }
            3 if at < input.len() => {
                let end = rng.gen_range(at..=input.len().min(at + 16));
                input.drain(at..end);
            }
            4 => {
                let end = rng.gen_range(at..=input.len().min(at + 64));
                let span = input[at..end].to_vec();
                input.splice(at..at, span.repeat(rng.gen_range(1..4)));
            }
            _ => input.insert(at, rng.gen()),
        }
    }
    input
}

fn template_event() -> RecordedEvent {
    RecordedEvent {
        position: 17,
        stream_id: DeviceId::parse("pump-7").expect("a valid id"),
        stream_seq: 42,
        event_type: "ReadingsRecorded".to_owned(),
        schema_version: 1,
        meta: EventMeta {
            event_id: uuid::Uuid::now_v7(),
            occurred_at: "2026-11-30T10:00:00.123456Z"
                .parse()
                .expect("a valid instant"),
            recorded_at: "2026-11-30T10:00:01Z".parse().expect("a valid instant"),
            correlation_id: Some(uuid::Uuid::now_v7()),
            causation_id: None,
        },
        payload: BODIES[0].to_owned(),
    }
}

/// The template's headers with some values mutated, dropped or duplicated, and its payload
/// mutated or missing.
fn mutated_message(
    rng: &mut SmallRng,
    template: &RecordedEvent,
) -> (OwnedHeaders, Option<Vec<u8>>) {
    use rdkafka::message::Headers;
    let original = cloudevents::headers(template);
    let mut headers = OwnedHeaders::new();
    for header in original.iter() {
        let value = header.value.unwrap_or_default();
        match rng.gen_range(0..8) {
            0 => continue,
            1 => {
                let mutated = mutate(rng, value);
                headers = headers.insert(Header {
                    key: header.key,
                    value: Some(mutated.as_slice()),
                });
            }
            2 => {
                headers = headers
                    .insert(Header {
                        key: header.key,
                        value: Some(value),
                    })
                    .insert(Header {
                        key: header.key,
                        value: None::<&[u8]>,
                    });
            }
            _ => {
                headers = headers.insert(Header {
                    key: header.key,
                    value: Some(value),
                });
            }
        }
    }
    let payload = match rng.gen_range(0..8) {
        0 => None,
        1..=3 => Some(mutate(rng, template.payload.as_bytes())),
        _ => Some(template.payload.as_bytes().to_vec()),
    };
    (headers, payload)
}
