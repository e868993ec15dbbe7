//! Scenario files: the model they describe, and loading them with errors that point at the
//! file, line and column.
//!
//! [`Scenario`] documents the file format.

mod error;
mod expect;
mod model;

pub use self::error::{ScenarioError, SourceLocation};
pub use self::expect::{Expectation, Pattern, TextMatcher};
pub use self::model::{
    Action, ClusterSettings, DeleteTarget, ExecStep, LabelStep, LocatedResource, ManifestSet,
    ObjectRef, ProbeMode, Scenario, Step, Timeouts, WorkloadKind, WorkloadRef,
};
