use faultline_proto::routeguide::RouteNote;
use faultline_services::route_guide::ChatState;
use faultline_services::tutorial::chat_notes;

use crate::model::p;

/// The model: for each note, earlier notes at the same location, in order.
fn model(notes: &[RouteNote]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, note) in notes.iter().enumerate() {
        for prev in &notes[..i] {
            if prev.location == note.location {
                out.push(prev.message.clone());
            }
        }
    }
    out
}

fn replies(notes: &[RouteNote]) -> Vec<String> {
    let mut state = ChatState::default();
    notes.iter().flat_map(|n| state.receive(n.clone(), None)).map(|n| n.message).collect()
}

#[test]
fn tutorial_notes_yield_exactly_first_then_third() {
    let notes = chat_notes();
    let mut state = ChatState::default();
    let all: Vec<RouteNote> = notes.into_iter().flat_map(|n| state.receive(n, None)).collect();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].message.as_str(), all[0].location), ("First message", Some(p(0, 0))));
    assert_eq!((all[1].message.as_str(), all[1].location), ("Third message", Some(p(1, 0))));
}

#[test]
fn replies_match_the_model_and_never_echo_the_new_note() {
    let note = |m: &str, lat, lon| RouteNote { location: Some(p(lat, lon)), message: m.to_owned() };
    let cases = vec![
        vec![],
        vec![note("a", 0, 0)],
        vec![note("a", 0, 0), note("b", 0, 0), note("c", 0, 0), note("d", 0, 0)],
        vec![note("a", 1, 2), note("b", 2, 1), note("c", 1, 2), note("d", 2, 1), note("e", 1, 2)],
        vec![
            RouteNote { location: None, message: "x".into() },
            RouteNote { location: None, message: "y".into() },
        ],
    ];
    for notes in cases {
        assert_eq!(replies(&notes), model(&notes), "notes {notes:?}");
    }
}
