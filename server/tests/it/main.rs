//! The server's call path in process, through its public API: what each layer makes of a call,
//! on a paused clock (deadlines cost no wall time).

mod call_path;
