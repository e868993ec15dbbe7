//! The process exit codes of `meshcheck`, so that CI can tell a policy regression from a
//! broken scenario or a machine that cannot run the backend.

/// Every scenario passed (or `validate` found no problem).
pub const SUCCESS: i32 = 0;
/// At least one step failed: the mesh behaved other than a scenario expects.
pub const FAILED: i32 = 1;
/// A scenario file or a command-line argument is invalid; no mesh was started.
pub const INVALID_INPUT: i32 = 2;
/// The backend cannot run here (for example curl is missing); nothing was judged.
pub const BACKEND_UNAVAILABLE: i32 = 3;
/// No step failed, but some probe could not run, so a result is unknown.
pub const INCONCLUSIVE: i32 = 4;
/// The run was interrupted by SIGINT, SIGTERM or SIGHUP (128 plus the number of SIGINT, as
/// shells report an interrupt); the reports list the steps it did not reach as skipped.
pub const INTERRUPTED: i32 = 130;
