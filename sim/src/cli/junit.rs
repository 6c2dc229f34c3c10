//! `--junit FILE`: a sweep as JUnit XML, so CI systems show its failures natively. One test
//! case per scenario and seed range; a failure carries each kept finding's `SEED=` and the
//! command that replays it.

use std::io;

use crate::scenario::Expect;
use crate::sweep::{ReplayCommand, Summary, Tally};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::report::Header;

/// The JUnit XML of a finished tally.
pub fn render(header: &Header, tally: &Tally, replay: &ReplayCommand) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write(&mut Writer::new_with_indent(&mut out, b' ', 2), header, tally, replay);
    String::from_utf8_lossy(&out).into_owned()
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

fn write(
    w: &mut Writer<&mut Vec<u8>>,
    header: &Header,
    tally: &Tally,
    replay: &ReplayCommand,
) -> io::Result<()> {
    let cases: Vec<(usize, &Summary)> =
        (0..header.scenarios.len()).filter_map(|i| tally.summary(i).map(|s| (i, s))).collect();
    let tests = cases.len().to_string();
    let failures = cases.iter().filter(|(_, s)| !s.ok).count().to_string();
    let time = secs(cases.iter().map(|(_, s)| s.wall_ms).sum());
    let attrs =
        [("name", "faultline"), ("tests", tests.as_str()), ("failures", failures.as_str()), ("time", &time)];
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("testsuites").with_attributes(attrs).write_inner_content(|w| {
        let suite = [("errors", "0"), ("skipped", "0")];
        w.create_element("testsuite").with_attributes(attrs).with_attributes(suite).write_inner_content(
            |w| {
                for (entry, summary) in &cases {
                    case(w, header, replay, tally, *entry, summary)?;
                }
                Ok(())
            },
        )?;
        Ok(())
    })?;
    w.write_event(Event::Text(BytesText::new("\n")))
}

fn case(
    w: &mut Writer<&mut Vec<u8>>,
    header: &Header,
    replay: &ReplayCommand,
    tally: &Tally,
    entry: usize,
    s: &Summary,
) -> io::Result<()> {
    let classname = format!("faultline.{}", s.scenario);
    let name = header.seed_label();
    let time = secs(s.wall_ms);
    let element = w.create_element("testcase").with_attributes([
        ("classname", classname.as_str()),
        ("name", &name),
        ("time", &time),
    ]);
    if s.ok {
        element.write_empty()?;
        return Ok(());
    }
    let mut text = String::new();
    if s.expect == Expect::Caught && s.failing == 0 {
        text += &format!("no seed of {} caught the canary: its checker may be broken\n", s.seeds);
    }
    let replay_as = &header.scenarios[entry].replay_as;
    for f in tally.findings().iter().filter(|f| f.entry == entry) {
        text += &format!("SEED={}\n", f.record.seed);
        for v in f.record.violations.iter().take(5) {
            text += &format!("  {v}\n");
        }
        text += &format!("  replay: {}\n", replay.line(replay_as, f.record.seed, header.swarm));
    }
    if tally.findings_not_kept() > 0 {
        text += &format!("... and {} more failing runs in this sweep, not kept\n", tally.findings_not_kept());
    }
    let verdict = s.verdict();
    element.write_inner_content(|w| {
        w.create_element("failure")
            .with_attributes([("message", verdict.as_str()), ("type", "faultline")])
            .write_text_content(BytesText::new(&text))?;
        Ok(())
    })?;
    Ok(())
}
