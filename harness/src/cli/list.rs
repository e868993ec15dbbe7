//! `meshcheck list`: the selected scenarios with their tags and steps.

use std::fmt::Write as _;

use meshcheck::scenario::Scenario;

use super::out;

/// Formats one scenario: its name, tags and file, then one numbered line per step.
pub fn scenario_text(scenario: &Scenario) -> String {
    let mut text = String::new();
    let tags = if scenario.tags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", scenario.tags.join(", "))
    };
    let _ = writeln!(
        text,
        "{}{tags} ({})",
        scenario.name,
        scenario.path.display()
    );
    for (index, step) in scenario.steps.iter().enumerate() {
        let _ = writeln!(
            text,
            "  {:>2}. {} ({})",
            index + 1,
            step.name,
            step.action.kind()
        );
    }
    text
}

/// Prints every scenario.
pub fn list(scenarios: &[Scenario]) {
    for scenario in scenarios {
        out(&scenario_text(scenario));
    }
}
