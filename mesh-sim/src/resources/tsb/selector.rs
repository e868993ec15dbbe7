//! Entries of TSB namespace selectors (`cluster/namespace`): which namespaces an entry
//! selects, how specifically, and whether a list of entries selects everything another entry
//! does.

use crate::resources::validate::is_dns_label;

/// One `cluster/namespace` entry of a namespace selector. The cluster is a name or `*`. The
/// namespace is a name, `*`, or a prefix followed by `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorEntry {
    /// Cluster name, or `*` for every cluster.
    pub cluster: String,
    /// Namespace name, `*`, or a prefix ending in `*`.
    pub namespace: String,
}

/// The namespaces that the namespace half of an entry selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NamespacePart<'a> {
    /// Only this name.
    Exact(&'a str),
    /// Every name that starts with this prefix; `*` is the empty prefix.
    Prefix(&'a str),
}

impl NamespacePart<'_> {
    fn matches(self, namespace: &str) -> bool {
        match self {
            Self::Exact(name) => name == namespace,
            Self::Prefix(prefix) => namespace.starts_with(prefix),
        }
    }
}

/// Characters of a DNS-1123 label, letters and digits first so that a search for an
/// unselected name tries a complete name before a longer prefix.
const LABEL_CHARACTERS: &str = "abcdefghijklmnopqrstuvwxyz0123456789-";

/// Maximum length of a namespace name (a DNS-1123 label).
const MAX_NAMESPACE_LENGTH: usize = 63;

impl SelectorEntry {
    /// Parses `cluster/namespace`, or returns `None` when the text has no `/`.
    pub fn parse(text: &str) -> Option<Self> {
        let (cluster, namespace) = text.split_once('/')?;
        Some(Self {
            cluster: cluster.to_owned(),
            namespace: namespace.to_owned(),
        })
    }

    /// Returns how specifically the entry names `cluster/namespace`, or `None` if it does not.
    pub fn rank(&self, cluster: &str, namespace: &str) -> Option<u8> {
        let cluster_rank = match self.cluster.as_str() {
            "*" => 0,
            name if name == cluster => 1,
            _ => return None,
        };
        let namespace_rank = if self.namespace == namespace {
            4
        } else if self.namespace == "*" {
            0
        } else if let Some(prefix) = self.namespace.strip_suffix('*') {
            if !namespace.starts_with(prefix) {
                return None;
            }
            2
        } else {
            return None;
        };
        Some(namespace_rank + cluster_rank)
    }

    fn namespace_part(&self) -> NamespacePart<'_> {
        match self.namespace.strip_suffix('*') {
            Some(prefix) => NamespacePart::Prefix(prefix),
            None => NamespacePart::Exact(&self.namespace),
        }
    }

    /// Checks whether every namespace this entry can select is selected by at least one of
    /// `entries`, in every cluster this entry names.
    ///
    /// Cluster names have no prefix form, so only a `*` entry covers the clusters that no
    /// entry names: an entry for every cluster is covered only by entries for every cluster.
    /// Namespace names are DNS-1123 labels, a finite set, so several entries can together
    /// cover a prefix that none covers alone (`a*` by `a`, `a0*` to `a9*`, `aa*` to `az*`
    /// and `a-*`).
    pub fn is_covered_by(&self, entries: &[SelectorEntry]) -> bool {
        let covering: Vec<NamespacePart<'_>> = entries
            .iter()
            .filter(|entry| entry.cluster == "*" || entry.cluster == self.cluster)
            .map(SelectorEntry::namespace_part)
            .collect();
        match self.namespace_part() {
            NamespacePart::Exact(name) => {
                !is_dns_label(name) || covering.iter().any(|part| part.matches(name))
            }
            NamespacePart::Prefix(prefix) => prefix_is_covered(prefix, &covering),
        }
    }
}

/// Checks whether some DNS-1123 label can start with `prefix`.
fn is_label_prefix(prefix: &str) -> bool {
    prefix.len() <= MAX_NAMESPACE_LENGTH
        && !prefix.starts_with('-')
        && prefix
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

/// Checks whether every namespace name that starts with `prefix` is matched by one of
/// `covering`.
/// The recursion extends the prefix by one character at a time, and it goes deeper only
/// while some entry is longer than the prefix, so it ends within the length of the longest
/// entry.
fn prefix_is_covered(prefix: &str, covering: &[NamespacePart<'_>]) -> bool {
    if !is_label_prefix(prefix) {
        // No namespace name starts with it.
        return true;
    }
    let prefix_matched = covering.iter().any(|part| match part {
        NamespacePart::Prefix(other) => prefix.starts_with(other),
        NamespacePart::Exact(_) => false,
    });
    if prefix_matched {
        return true;
    }
    if is_dns_label(prefix) && !covering.iter().any(|part| part.matches(prefix)) {
        return false;
    }
    if prefix.len() == MAX_NAMESPACE_LENGTH {
        // The prefix is the only name that starts with it.
        return true;
    }
    let extended = covering.iter().any(|part| match part {
        NamespacePart::Exact(other) | NamespacePart::Prefix(other) => {
            other.len() > prefix.len() && other.starts_with(prefix)
        }
    });
    if !extended {
        // Some longer name, such as the prefix followed by `a`, is matched by no entry.
        return false;
    }
    LABEL_CHARACTERS.chars().all(|character| {
        let longer = format!("{prefix}{character}");
        prefix_is_covered(&longer, covering)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(texts: &[&str]) -> Vec<SelectorEntry> {
        texts
            .iter()
            .map(|text| SelectorEntry::parse(text).expect("the entry has a `/`"))
            .collect()
    }

    fn covered(entry: &str, workspace: &[&str]) -> bool {
        SelectorEntry::parse(entry)
            .expect("the entry has a `/`")
            .is_covered_by(&entries(workspace))
    }

    #[test]
    fn entries_inside_workspace_are_covered() {
        let cases: &[(&str, &[&str])] = &[
            ("*/bookinfo", &["*/bookinfo"]),
            ("c1/bookinfo", &["*/bookinfo"]),
            ("c1/bookinfo", &["c1/bookinfo"]),
            ("c1/bookinfo", &["c1/*"]),
            ("c1/bookinfo", &["c1/book*"]),
            ("*/bookinfo", &["*/*"]),
            ("*/*", &["*/*"]),
            ("c1/*", &["*/*"]),
            ("c1/*", &["c1/*"]),
            ("c1/app*", &["c1/a*"]),
            ("*/app*", &["*/app*"]),
            ("c1/app*", &["*/app*"]),
            ("c1/app-1", &["c2/other", "*/app-*"]),
            // Together these select every name that starts with `a`.
            (
                "c1/a*",
                &[
                    "c1/a", "c1/a0*", "c1/a1*", "c1/a2*", "c1/a3*", "c1/a4*", "c1/a5*", "c1/a6*",
                    "c1/a7*", "c1/a8*", "c1/a9*", "c1/aa*", "c1/ab*", "c1/ac*", "c1/ad*", "c1/ae*",
                    "c1/af*", "c1/ag*", "c1/ah*", "c1/ai*", "c1/aj*", "c1/ak*", "c1/al*", "c1/am*",
                    "c1/an*", "c1/ao*", "c1/ap*", "c1/aq*", "c1/ar*", "c1/as*", "c1/at*", "c1/au*",
                    "c1/av*", "c1/aw*", "c1/ax*", "c1/ay*", "*/az*", "c1/a-*",
                ],
            ),
            // Names that no namespace can have select nothing.
            ("c1/Upper", &["*/bookinfo"]),
            ("c1/-*", &["*/bookinfo"]),
        ];
        for (entry, workspace) in cases {
            assert!(covered(entry, workspace), "{entry} in {workspace:?}");
        }
    }

    #[test]
    fn entries_outside_workspace_are_not_covered() {
        let cases: &[(&str, &[&str])] = &[
            ("*/*", &["*/bookinfo"]),
            ("*/*", &["c1/*"]),
            ("*/bookinfo", &["c1/bookinfo"]),
            ("*/bookinfo", &["c1/*"]),
            ("c1/*", &["*/bookinfo"]),
            ("c1/*", &["c1/a*", "c1/b*"]),
            ("c2/bookinfo", &["c1/bookinfo"]),
            ("c1/other", &["*/bookinfo"]),
            ("c1/app*", &["c1/app"]),
            ("c1/app*", &["c1/app-*"]),
            ("c1/a*", &["c1/ab*"]),
            ("*/app*", &["c1/app*"]),
            ("c1/bookinfo", &[]),
            // Names that start with `a`, without `a-b`.
            (
                "c1/a*",
                &[
                    "c1/a", "c1/a0*", "c1/a1*", "c1/a2*", "c1/a3*", "c1/a4*", "c1/a5*", "c1/a6*",
                    "c1/a7*", "c1/a8*", "c1/a9*", "c1/aa*", "c1/ab*", "c1/ac*", "c1/ad*", "c1/ae*",
                    "c1/af*", "c1/ag*", "c1/ah*", "c1/ai*", "c1/aj*", "c1/ak*", "c1/al*", "c1/am*",
                    "c1/an*", "c1/ao*", "c1/ap*", "c1/aq*", "c1/ar*", "c1/as*", "c1/at*", "c1/au*",
                    "c1/av*", "c1/aw*", "c1/ax*", "c1/ay*", "c1/az*", "c1/a-a*", "c1/a--*",
                ],
            ),
        ];
        for (entry, workspace) in cases {
            assert!(!covered(entry, workspace), "{entry} in {workspace:?}");
        }
    }

    #[test]
    fn rank_prefers_exact_names() {
        let exact = SelectorEntry::parse("c1/app").unwrap();
        let prefix = SelectorEntry::parse("c1/a*").unwrap();
        let any = SelectorEntry::parse("*/*").unwrap();
        assert_eq!(exact.rank("c1", "app"), Some(5));
        assert_eq!(prefix.rank("c1", "app"), Some(3));
        assert_eq!(any.rank("c1", "app"), Some(0));
        assert_eq!(prefix.rank("c2", "app"), None);
        assert_eq!(prefix.rank("c1", "other"), None);
    }
}
