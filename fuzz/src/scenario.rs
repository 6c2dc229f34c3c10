//! Scenario files (`faultline_sim::Scenario::from_toml`): the catalogue's scenarios as TOML,
//! mutated as text (numbers set huge, negative or fractional, lines dropped or repeated,
//! tables added, deep nesting) and as bytes; the properties of loading them.

use std::time::Duration;

use faultline_sim::World;
use faultline_sim::fault::Schedule;
use faultline_tutorial::Scenario;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::alloc;

/// Every catalogue scenario as a file.
pub fn catalogue_files() -> Vec<String> {
    faultline_tutorial::catalogue().iter().map(Scenario::to_toml).collect()
}

/// A change to a scenario file's text.
#[derive(Debug, Clone)]
pub enum Edit {
    /// The `at`-th number of the text replaced by one of `NUMBERS`.
    Number { at: Index, to: Index },
    /// A line removed.
    DropLine { at: Index },
    /// A line repeated.
    RepeatLine { at: Index },
    /// A line of `LINES` inserted.
    Insert { at: Index, line: Index },
    /// `depth` nested arrays as a value.
    Nest { at: Index, depth: usize },
    /// A knob of `KNOBS` set to a value of `VALUES`, at the top or in the `table`-th fault.
    Set { table: Option<Index>, knob: Index, value: Index },
}

/// Every knob of a scenario file and of its faults.
pub const KNOBS: &[&str] = &[
    "clients",
    "calls_per_client",
    "concurrency",
    "think_ms",
    "min_latency_ms",
    "max_latency_ms",
    "deadline_ms",
    "cancel_rate",
    "route_pause_ms",
    "recovery_ms",
    "limit_ms",
    "at_ms",
    "for_ms",
    "latency_ms",
    "jitter_ms",
    "rate",
    "delay_ms",
    "code",
    "every",
    "after_messages",
    "after_frames",
    "after_bytes",
    "window",
    "max_delay_ms",
    "oneway",
    "kind",
    "expect",
    "mutant",
];

/// Values a knob may be set to (TOML: integers are `i64`).
pub const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "65",
    "4294967296",
    "100000000000000000",
    "4611686018427387904",
    "9223372036854775807",
    "0.5",
    "nan",
    "-inf",
    "[0, 9223372036854775807]",
    "[9223372036854775807, 9223372036854775807]",
    "\"loss\"",
    "\"canary\"",
    "true",
];

/// Numbers a knob may be set to.
pub const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "65",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "1.5",
    "nan",
    "inf",
    "1e400",
];

const LINES: &[&str] = &[
    "[[faults]]",
    "kind = \"latency\"",
    "kind = \"rst-stream\"",
    "kind = \"trailers-only\"",
    "at_ms = 18446744073709551615",
    "for_ms = 18446744073709551615",
    "limit_ms = 18446744073709551615",
    "recovery_ms = 18446744073709551615",
    "latency_ms = 9223372036854775807",
    "jitter_ms = 9223372036854775807",
    "[[calls]]",
    "client = 0",
    "method = \"RecordRoute\"",
    "points = [[1, 2], [3, 4]]",
    "route_pause_ms = [18446744073709551615, 18446744073709551615]",
    "think_ms = 18446744073709551615",
    "max_latency_ms = 18446744073709551615",
    "cancel_rate = nan",
    "mutant = \"canary\"",
    "x = { y = { z = 1 } }",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), any::<Index>()).prop_map(|(at, to)| Edit::Number { at, to }),
        1 => any::<Index>().prop_map(|at| Edit::DropLine { at }),
        1 => any::<Index>().prop_map(|at| Edit::RepeatLine { at }),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, line)| Edit::Insert { at, line }),
        1 => (any::<Index>(), prop_oneof![1usize..8, Just(200), Just(5_000)]).prop_map(|(at, depth)| Edit::Nest { at, depth }),
        6 => (proptest::option::of(any::<Index>()), any::<Index>(), any::<Index>())
            .prop_map(|(table, knob, value)| Edit::Set { table, knob, value }),
    ]
}

/// Edits to a file, in order.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..5)
}

/// `text` with `edits` applied.
pub fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for edit in edits {
        let n = lines.len();
        match edit {
            Edit::Number { at, to } => {
                let numbers: Vec<(usize, usize, usize)> = lines
                    .iter()
                    .enumerate()
                    .flat_map(|(i, line)| number_spans(line).into_iter().map(move |(s, e)| (i, s, e)))
                    .collect();
                if let Some(&(i, s, e)) = numbers.get(at.index(numbers.len().max(1))) {
                    lines[i].replace_range(s..e, NUMBERS[to.index(NUMBERS.len())]);
                }
            }
            Edit::DropLine { at } if n > 0 => {
                lines.remove(at.index(n));
            }
            Edit::RepeatLine { at } if n > 0 => {
                let line = lines[at.index(n)].clone();
                lines.insert(at.index(n), line);
            }
            Edit::Insert { at, line } => {
                lines.insert(at.index(n + 1), LINES[line.index(LINES.len())].to_owned())
            }
            Edit::Nest { at, depth } => {
                let value = format!("{}1{}", "[".repeat(*depth), "]".repeat(*depth));
                lines.insert(at.index(n + 1), format!("nested = {value}"));
            }
            Edit::Set { table, knob, value } => {
                set(&mut lines, *table, KNOBS[knob.index(KNOBS.len())], VALUES[value.index(VALUES.len())])
            }
            _ => {}
        }
    }
    lines.join("\n")
}

/// Sets `knob = value` at the top of the file or in one of its `[[faults]]` tables, replacing
/// the knob's line there if it has one.
fn set(lines: &mut Vec<String>, table: Option<Index>, knob: &str, value: &str) {
    let headers: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with('[')).collect();
    let faults: Vec<usize> = headers.iter().copied().filter(|&i| lines[i] == "[[faults]]").collect();
    let (start, end) = match table {
        Some(t) if !faults.is_empty() => {
            let start = faults[t.index(faults.len())] + 1;
            (start, headers.iter().copied().find(|&h| h >= start).unwrap_or(lines.len()))
        }
        _ => (0, headers.first().copied().unwrap_or(lines.len())),
    };
    let line = format!("{knob} = {value}");
    match (start..end).find(|&i| lines[i].split(" = ").next() == Some(knob)) {
        Some(i) => lines[i] = line,
        None => lines.insert(start, line),
    }
}

/// Byte ranges of the unsigned integers in a line.
fn number_spans(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices().chain([(line.len(), ' ')]) {
        match (c.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// `from_toml` on any text: no panic, memory bounded by the text, and a scenario it accepts is
/// one the simulator can start (its world, grace, schedule and fault codes computed without
/// overflow) and that writes back to a file reading the same.
pub fn check_load(text: &str) {
    let loaded =
        alloc::assert_bounded("Scenario::from_toml", text.len(), 512, 64 << 10, || Scenario::from_toml(text));
    if let Ok(scenario) = loaded {
        check_startable(&scenario);
        let again = Scenario::from_toml(&scenario.to_toml()).expect("a loaded scenario's file loads");
        assert_eq!(again, scenario);
    }
}

/// The arithmetic a run does first on a valid scenario (the runner's, through the same public
/// functions where there are some): none of it may overflow.
pub fn check_startable(scenario: &Scenario) {
    let world = World::new(scenario, 0);
    let grace = world.net.grace();
    let schedule = Schedule::new(&scenario.faults);
    assert_eq!(schedule.actions().len(), 2 * scenario.faults.len());
    let heal = Duration::from_millis(scenario.heal_ms());
    assert!(heal.checked_add(Duration::from_millis(scenario.recovery_ms)).is_some());
    assert!(scenario.think_ms.checked_mul(2).is_some(), "think_ms doubled overflows");
    for f in &scenario.faults {
        let _ = f.fault.may_cause(&world.net, Duration::from_millis(f.for_ms));
        assert!(Duration::from_micros(f.heal_us()).checked_add(grace).is_some());
    }
}
