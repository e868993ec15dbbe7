//! The topology graph of a run as a self-contained HTML page: workloads grouped by
//! namespace, an arrow per pair that talked, a closed padlock for mTLS, an open one for
//! plaintext, and a red cross where connections were denied, rejected or failed. The SVG is
//! inline and the page fetches nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::traffic::{Edge, EdgeOutcome, EdgeTransport, Workload};

const NODE_WIDTH: f64 = 170.0;
const NODE_HEIGHT: f64 = 44.0;
const COLUMN_GAP: f64 = 240.0;
const ROW_GAP: f64 = 26.0;
const BAND_PADDING: f64 = 30.0;
const BAND_GAP: f64 = 24.0;
const MARGIN: f64 = 30.0;
const LABEL_HEIGHT: f64 = 18.0;

/// Escapes text for HTML and SVG content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Computes the maximum length of a chain of calls leading to each workload, so that callers
/// sit left of their callees.
fn ranks(nodes: &BTreeSet<Workload>, edges: &[&Edge]) -> BTreeMap<Workload, usize> {
    let mut rank: BTreeMap<Workload, usize> = nodes.iter().map(|node| (node.clone(), 0)).collect();
    // Bellman-Ford style relaxation, bounded by the node count so that cycles end.
    for _ in 0..nodes.len() {
        let mut changed = false;
        for edge in edges.iter().filter(|edge| edge.source != edge.destination) {
            let candidate = rank[&edge.source] + 1;
            if candidate > rank[&edge.destination] && candidate < nodes.len() {
                rank.insert(edge.destination.clone(), candidate);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    rank
}

/// Draws a padlock at (`x`, `y`): closed for mTLS, with its shackle lifted for plaintext.
fn padlock(x: f64, y: f64, closed: bool) -> String {
    let (color, shackle) = if closed {
        (
            "#1f7a3a",
            format!("M{:.1} {:.1} v-4 a4 4 0 0 1 8 0 v4", x + 2.0, y + 6.0),
        )
    } else {
        (
            "#b26a00",
            format!("M{:.1} {:.1} v-6 a4 4 0 0 1 8 0 v-1", x + 2.0, y + 4.0),
        )
    };
    format!(
        "<g class=\"{}\"><path d=\"{shackle}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"/>\
         <rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"9\" rx=\"1.5\" fill=\"{color}\"/></g>",
        if closed { "padlock" } else { "padlock-open" },
        x,
        y + 6.0
    )
}

/// Draws a red cross in a circle at (`x`, `y`), marking connections that did not go through.
fn cross(x: f64, y: f64) -> String {
    format!(
        "<g class=\"blocked\"><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"6.5\" fill=\"#c62828\"/>\
         <path d=\"M{:.1} {:.1} l6 6 M{:.1} {:.1} l-6 6\" stroke=\"white\" stroke-width=\"1.8\"/></g>",
        x + 6.5,
        y + 7.5,
        x + 3.5,
        y + 4.5,
        x + 9.5,
        y + 4.5
    )
}

fn label_text(edge: &Edge) -> String {
    let transport = match edge.transport {
        EdgeTransport::Mtls => "mTLS",
        EdgeTransport::Plaintext => "plaintext",
        EdgeTransport::Tls => "TLS",
    };
    let outcome = match edge.outcome {
        EdgeOutcome::Allowed => String::new(),
        other => format!(" {}", other.name()),
    };
    format!("{transport}{outcome} ×{}", edge.count)
}

fn node_label(workload: &Workload) -> (String, &'static str) {
    let subtitle = if workload.in_mesh {
        "sidecar"
    } else {
        "no sidecar"
    };
    (workload.name.clone(), subtitle)
}

/// Renders the edges of one scenario as an HTML page titled `title`.
pub fn render_html(title: &str, edges: &[Edge]) -> String {
    let edges: Vec<&Edge> = edges.iter().collect();
    let nodes: BTreeSet<Workload> = edges
        .iter()
        .flat_map(|edge| [edge.source.clone(), edge.destination.clone()])
        .collect();
    let rank = ranks(&nodes, &edges);

    // Bands: one per namespace, in name order; within a band, columns by rank.
    let mut bands: BTreeMap<String, BTreeMap<usize, Vec<Workload>>> = BTreeMap::new();
    for node in &nodes {
        bands
            .entry(node.namespace.clone())
            .or_default()
            .entry(rank[node])
            .or_default()
            .push(node.clone());
    }
    let mut position: BTreeMap<Workload, (f64, f64)> = BTreeMap::new();
    let mut band_boxes = Vec::new();
    let mut y = MARGIN;
    let max_rank = rank.values().copied().max().unwrap_or(0);
    for (namespace, columns) in &bands {
        let rows = columns.values().map(Vec::len).max().unwrap_or(1) as f64;
        let height = BAND_PADDING * 2.0 + rows * NODE_HEIGHT + (rows - 1.0) * ROW_GAP;
        for (column, members) in columns {
            for (index, node) in members.iter().enumerate() {
                let x = MARGIN + BAND_PADDING + *column as f64 * (NODE_WIDTH + COLUMN_GAP);
                let node_y = y + BAND_PADDING + index as f64 * (NODE_HEIGHT + ROW_GAP);
                position.insert(node.clone(), (x, node_y));
            }
        }
        band_boxes.push((namespace.clone(), y, height));
        y += height + BAND_GAP;
    }
    let width = MARGIN * 2.0
        + BAND_PADDING * 2.0
        + (max_rank as f64 + 1.0) * NODE_WIDTH
        + max_rank as f64 * COLUMN_GAP;
    let height = y - BAND_GAP + MARGIN;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M0 0 L10 5 L0 10 z\" fill=\"#555\"/></marker></defs>"
    );
    for (namespace, band_y, band_height) in &band_boxes {
        let _ = write!(
            svg,
            "<g class=\"namespace\"><rect x=\"{MARGIN}\" y=\"{band_y:.1}\" width=\"{:.1}\" height=\"{band_height:.1}\" rx=\"10\" fill=\"#f3f5f9\" stroke=\"#c5cbd8\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"namespace-name\">namespace {}</text></g>",
            width - MARGIN * 2.0,
            MARGIN + 10.0,
            band_y + 18.0,
            escape(if namespace.is_empty() {
                "(not a pod)"
            } else {
                namespace
            })
        );
    }

    // Edges grouped by pair: one arrow, one label line per transport and outcome.
    let mut pairs: BTreeMap<(Workload, Workload), Vec<&Edge>> = BTreeMap::new();
    for edge in &edges {
        pairs
            .entry((edge.source.clone(), edge.destination.clone()))
            .or_default()
            .push(edge);
    }
    // Label blocks already placed, as (x, y, width, height), so that later ones move clear.
    let mut placed: Vec<(f64, f64, f64, f64)> = Vec::new();
    for ((source, destination), group) in &pairs {
        let (sx, sy) = position[source];
        let (dx, dy) = position[destination];
        let all_blocked = group
            .iter()
            .all(|edge| edge.outcome != EdgeOutcome::Allowed);
        let stroke = if all_blocked { "#c62828" } else { "#555" };
        let dash = if all_blocked {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let (path, label_x, label_y) = if source == destination {
            let x = sx + NODE_WIDTH - 20.0;
            (
                format!(
                    "M{:.1} {:.1} c40 -40 80 0 30 {:.1}",
                    x,
                    sy,
                    NODE_HEIGHT * 0.5
                ),
                sx + NODE_WIDTH + 16.0,
                sy - 24.0,
            )
        } else {
            let start = (sx + NODE_WIDTH, sy + NODE_HEIGHT / 2.0);
            let end = if dx > sx {
                (dx, dy + NODE_HEIGHT / 2.0)
            } else {
                (dx + NODE_WIDTH / 2.0, dy)
            };
            let middle_x = (start.0 + end.0) / 2.0;
            (
                format!(
                    "M{:.1} {:.1} C{:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
                    start.0, start.1, middle_x, start.1, middle_x, end.1, end.0, end.1
                ),
                middle_x - 60.0,
                (start.1 + end.1) / 2.0 - group.len() as f64 * LABEL_HEIGHT / 2.0,
            )
        };
        let _ = write!(
            svg,
            "<g class=\"edge\" data-source=\"{}\" data-destination=\"{}\"><path d=\"{path}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"1.6\"{dash} marker-end=\"url(#arrow)\"/>",
            escape(&source.to_string()),
            escape(&destination.to_string())
        );
        let block_width = group
            .iter()
            .map(|edge| label_text(edge).chars().count() as f64 * 6.6 + 38.0)
            .fold(0.0, f64::max);
        let block_height = group.len() as f64 * LABEL_HEIGHT;
        let anchor = (label_x + 60.0, label_y + block_height / 2.0);
        let mut label_y = label_y;
        let overlaps = |y: f64, placed: &[(f64, f64, f64, f64)]| {
            placed.iter().any(|(x, other_y, width, height)| {
                label_x < x + width
                    && *x < label_x + block_width
                    && y < other_y + height
                    && *other_y < y + block_height
            })
        };
        for _ in 0..200 {
            if !overlaps(label_y, &placed) {
                break;
            }
            label_y += LABEL_HEIGHT / 2.0;
        }
        placed.push((label_x, label_y, block_width, block_height));
        if (label_y + block_height / 2.0 - anchor.1).abs() > 1.0 {
            // A label moved off its arrow is tied back to the arrow's midpoint.
            let _ = write!(
                svg,
                "<path d=\"M{:.1} {:.1} L{:.1} {:.1}\" stroke=\"#9aa0aa\" stroke-width=\"0.8\" stroke-dasharray=\"2 2\"/><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"#9aa0aa\"/>",
                anchor.0,
                anchor.1,
                label_x + 6.0,
                label_y + block_height / 2.0,
                anchor.0,
                anchor.1
            );
        }
        for (index, edge) in group.iter().enumerate() {
            let line_y = label_y + index as f64 * LABEL_HEIGHT;
            let text = label_text(edge);
            let text_width = text.chars().count() as f64 * 6.6 + 22.0;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{text_width:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"white\" fill-opacity=\"0.9\"/>",
                label_x - 2.0,
                line_y - 1.0,
                LABEL_HEIGHT - 1.0
            );
            let icon = match edge.transport {
                EdgeTransport::Mtls => padlock(label_x, line_y - 2.0, true),
                EdgeTransport::Plaintext | EdgeTransport::Tls => {
                    padlock(label_x, line_y - 2.0, false)
                }
            };
            svg.push_str(&icon);
            let mut text_x = label_x + 16.0;
            if edge.outcome != EdgeOutcome::Allowed {
                svg.push_str(&cross(text_x, line_y));
                text_x += 16.0;
            }
            let class = if edge.outcome == EdgeOutcome::Allowed {
                "label"
            } else {
                "label blocked-label"
            };
            let _ = write!(
                svg,
                "<text x=\"{text_x:.1}\" y=\"{:.1}\" class=\"{class}\">{}</text>",
                line_y + 12.0,
                escape(&text)
            );
        }
        svg.push_str("</g>");
    }

    for (node, (x, y)) in &position {
        let (name, subtitle) = node_label(node);
        let border = if node.in_mesh { "#3455a4" } else { "#8a8f98" };
        let _ = write!(
            svg,
            "<g class=\"workload\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{NODE_WIDTH}\" height=\"{NODE_HEIGHT}\" rx=\"6\" fill=\"white\" stroke=\"{border}\" stroke-width=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"workload-name\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"workload-kind\">{subtitle}</text></g>",
            if node.in_mesh { 2.2 } else { 1.2 },
            x + 10.0,
            y + 19.0,
            escape(&name),
            x + 10.0,
            y + 35.0
        );
    }
    svg.push_str("</svg>");

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 16px; color: #222; }}\n\
         h1 {{ font-size: 18px; }}\n\
         p.legend {{ font-size: 13px; color: #444; }}\n\
         .namespace-name {{ font-size: 13px; font-weight: bold; fill: #5a6275; }}\n\
         .workload-name {{ font-size: 13px; font-weight: bold; }}\n\
         .workload-kind {{ font-size: 11px; fill: #666; }}\n\
         .label {{ font-size: 11px; fill: #333; }}\n\
         .blocked-label {{ fill: #c62828; }}\n\
         </style>\n</head>\n<body>\n<h1>{title}</h1>\n\
         <p class=\"legend\">Closed padlock: mTLS. Open padlock: plaintext or TLS without a mesh certificate. \
         Red cross and dashed arrow: denied, rejected or failed. Thick border: the workload has a sidecar.</p>\n{svg}\n</body>\n</html>\n",
        title = escape(title)
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(namespace: &str, name: &str, in_mesh: bool) -> Workload {
        Workload {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            deployment: true,
            in_mesh,
        }
    }

    fn edge(
        source: &Workload,
        destination: &Workload,
        transport: EdgeTransport,
        outcome: EdgeOutcome,
    ) -> Edge {
        Edge {
            source: source.clone(),
            destination: destination.clone(),
            service: None,
            port: 9080,
            transport,
            outcome,
            source_identity: None,
            destination_identity: None,
            count: 2,
        }
    }

    #[test]
    fn graph_marks_transport_and_denials() {
        let sleep = workload("sleep", "sleep", false);
        let productpage = workload("bookinfo", "productpage-v1", true);
        let reviews = workload("bookinfo", "reviews-v1", true);
        let edges = vec![
            edge(
                &sleep,
                &productpage,
                EdgeTransport::Plaintext,
                EdgeOutcome::Allowed,
            ),
            edge(
                &sleep,
                &productpage,
                EdgeTransport::Plaintext,
                EdgeOutcome::Rejected,
            ),
            edge(
                &productpage,
                &reviews,
                EdgeTransport::Mtls,
                EdgeOutcome::Allowed,
            ),
        ];
        let html = render_html("walkthrough <test>", &edges);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("walkthrough &lt;test&gt;"), "title escaped");
        assert_eq!(
            html.matches("class=\"padlock\"").count(),
            1,
            "one mTLS label"
        );
        assert_eq!(
            html.matches("class=\"padlock-open\"").count(),
            2,
            "two plaintext labels"
        );
        assert_eq!(
            html.matches("class=\"blocked\"").count(),
            1,
            "one blocked label"
        );
        assert_eq!(
            html.matches("class=\"edge\"").count(),
            2,
            "one arrow per pair"
        );
        assert!(html.contains("namespace bookinfo"));
        assert!(html.contains("namespace sleep"));
        for fetch in ["src=", "<link", "@import", "href="] {
            assert!(!html.contains(fetch), "nothing fetched: found {fetch}");
        }
        assert!(!html.contains("<script"), "no scripts");
    }

    #[test]
    fn callers_rank_left_of_callees() {
        let a = workload("x", "a", true);
        let b = workload("x", "b", true);
        let c = workload("y", "c", true);
        let edges = [
            edge(&a, &b, EdgeTransport::Mtls, EdgeOutcome::Allowed),
            edge(&b, &c, EdgeTransport::Mtls, EdgeOutcome::Allowed),
        ];
        let references: Vec<&Edge> = edges.iter().collect();
        let nodes: BTreeSet<Workload> = [a.clone(), b.clone(), c.clone()].into();
        let rank = ranks(&nodes, &references);
        assert_eq!(rank[&a], 0);
        assert_eq!(rank[&b], 1);
        assert_eq!(rank[&c], 2);
    }
}
