//! A standalone HTML page with an SVG timeline of one simulated run, for a person debugging a
//! failing seed: one lane per host, one bar per call, server handlers' lives, the faults'
//! windows as bands, and instantaneous events as markers. `layout` places everything as plain
//! data; `render` writes the page from it.
//!
//! The page has no external assets and no script. Rendering is a pure function of its inputs:
//! the same scenario and report give byte-identical output.

mod layout;
mod render;

pub use layout::{COLOR_CANCELLED, COLOR_DEADLINE, COLOR_ERROR, COLOR_OK};
pub use render::render;
