//! Messages for the errors of the YAML parser, in the scenario author's terms rather than the
//! parser's option and type names.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Budget, MessageFormatter};

/// The hint of syntax errors that have no more specific one.
const SYNTAX_HINT: &str = "fix the YAML syntax at this position";

/// Returns the message and hint for `error`, which the parser raised while reading a document
/// under `budget`.
pub(crate) fn describe(error: &serde_saphyr::Error, budget: &Budget) -> (String, String) {
    match original(error) {
        serde_saphyr::Error::Budget { breach, .. } => describe_breach(breach, budget),
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => {
            let message = match key {
                Some(key) => format!("invalid YAML: duplicate key `{key}` in a mapping"),
                None => "invalid YAML: duplicate key in a mapping".to_owned(),
            };
            (message, "remove one of them".to_owned())
        }
        _ => {
            let message = serde_saphyr::DefaultMessageFormatter.format_message(error);
            (format!("invalid YAML: {message}"), SYNTAX_HINT.to_owned())
        }
    }
}

/// Unwraps the snippet and alias wrappers around the error the parser first raised.
fn original(mut error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::WithSnippet { error: inner, .. }
    | serde_saphyr::Error::AliasError { error: inner, .. } = error
    {
        error = inner;
    }
    error
}

/// Describes a breached parser limit: which limit, its value in `budget`, and how to stay
/// under it.
fn describe_breach(breach: &BudgetBreach, budget: &Budget) -> (String, String) {
    // Each alias (`*name`) replays every node of its anchored value, so aliases of values that
    // themselves contain aliases multiply: a few lines can expand to millions of nodes.
    const ALIAS_HINT: &str = "use fewer aliases (`*name`), alias smaller values, or make the \
                              document smaller";
    let (message, hint) = match breach {
        BudgetBreach::Nodes { .. } => (
            format!(
                "the document expands to more than {} nodes (sequences, mappings and scalars), \
                 counting each alias as a full copy of its anchored value",
                budget.max_nodes
            ),
            ALIAS_HINT,
        ),
        BudgetBreach::Events { .. } => (
            format!(
                "the document expands to more than {} parser events, counting each alias as a \
                 full copy of its anchored value",
                budget.max_events
            ),
            ALIAS_HINT,
        ),
        BudgetBreach::Aliases { .. } => (
            format!("the document uses more than {} aliases", budget.max_aliases),
            "use fewer aliases (`*name`)",
        ),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => (
            format!(
                "the document uses {aliases} aliases for {anchors} anchors, more than {} per \
                 anchor",
                budget.alias_anchor_ratio_multiplier
            ),
            "use fewer aliases (`*name`), or write the repeated values out",
        ),
        BudgetBreach::Anchors { .. } => (
            format!(
                "the document defines more than {} anchors",
                budget.max_anchors
            ),
            "use fewer anchors (`&name`)",
        ),
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => (
            format!(
                "the anchored values of the document are too large to keep for their aliases \
                 (more than {} events or {} bytes)",
                budget.max_recorded_anchor_events, budget.max_recorded_anchor_bytes
            ),
            "anchor smaller values, or write the repeated values out",
        ),
        BudgetBreach::Depth { .. } => (
            format!(
                "sequences and mappings are nested more than {} levels deep",
                budget.max_depth
            ),
            "nest fewer levels",
        ),
        BudgetBreach::ScalarBytes { .. } => (
            format!(
                "the scalars of the document total more than {} bytes",
                budget.max_total_scalar_bytes
            ),
            "make the document smaller, or move large values into separate files",
        ),
        BudgetBreach::MergeKeys { .. } => (
            format!(
                "the document uses more than {} merge keys (`<<`)",
                budget.max_merge_keys
            ),
            "use fewer merge keys",
        ),
        BudgetBreach::Documents { .. } => (
            format!(
                "the text holds more than {} documents",
                budget.max_documents
            ),
            "split it into several files",
        ),
        BudgetBreach::SequenceUnbalanced => {
            let message = "invalid YAML: a sequence or mapping ends that was never opened";
            return (message.to_owned(), SYNTAX_HINT.to_owned());
        }
        // Limits of reader input, includes and `${...}` properties, which scenario parsing
        // does not use, and any limit a later parser version adds.
        other => {
            let limit = format!("the document exceeds a limit of the YAML parser ({other:?})");
            return (format!("invalid YAML: {limit}"), SYNTAX_HINT.to_owned());
        }
    };
    (format!("invalid YAML: {message}"), hint.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_breach_names_the_limit() {
        let budget = Budget::default();
        let (message, hint) = describe_breach(&BudgetBreach::Nodes { nodes: 250_001 }, &budget);
        assert_eq!(
            message,
            format!(
                "invalid YAML: the document expands to more than {} nodes (sequences, mappings \
                 and scalars), counting each alias as a full copy of its anchored value",
                budget.max_nodes
            )
        );
        assert!(hint.starts_with("use fewer aliases"), "{hint}");
    }

    #[test]
    fn breaches_do_not_show_debug_output() {
        let budget = Budget::default();
        let breaches = [
            BudgetBreach::Events { events: 1 },
            BudgetBreach::Aliases { aliases: 1 },
            BudgetBreach::AliasAnchorRatio {
                aliases: 200,
                anchors: 1,
            },
            BudgetBreach::Anchors { anchors: 1 },
            BudgetBreach::RecordedAnchorEvents {
                recorded_anchor_events: 1,
            },
            BudgetBreach::RecordedAnchorBytes {
                recorded_anchor_bytes: 1,
            },
            BudgetBreach::Depth { depth: 1 },
            BudgetBreach::ScalarBytes {
                total_scalar_bytes: 1,
            },
            BudgetBreach::MergeKeys { merge_keys: 1 },
            BudgetBreach::Documents { documents: 1 },
        ];
        for breach in breaches {
            let (message, hint) = describe_breach(&breach, &budget);
            assert!(!message.contains('{'), "{breach:?}: {message}");
            assert_ne!(hint, SYNTAX_HINT, "{breach:?}");
        }
    }
}
