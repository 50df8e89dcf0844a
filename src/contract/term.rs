//! Term normalization, the one definition: the tailer writes `term` with it (and so every
//! daily job groups by it), and `eval` labels queries with it:
//! Unicode NFKC, then lowercase, then trim, then collapse each run of Unicode whitespace
//! into one ASCII space.

use unicode_normalization::UnicodeNormalization;

/// Normalizes a search query into the `term` stored in `raw_events`.
pub fn normalize_term(query: &str) -> String {
    let lowered = if query.is_ascii() {
        // NFKC is the identity on ASCII: skip the allocation-heavy path for the common case.
        query.to_ascii_lowercase()
    } else {
        query.nfkc().collect::<String>().to_lowercase()
    };
    let mut term = String::with_capacity(lowered.len());
    for word in lowered.split_whitespace() {
        if !term.is_empty() {
            term.push(' ');
        }
        term.push_str(word);
    }
    term
}

#[cfg(test)]
mod tests {
    use super::normalize_term;

    #[test]
    fn examples_from_the_design() {
        assert_eq!(normalize_term("  CAT\u{3000}in a Park "), "cat in a park");
        assert_eq!(normalize_term("ｃａｔ in a park"), "cat in a park");
        assert_eq!(normalize_term("Cat in a park"), "cat in a park");
    }

    #[test]
    fn whitespace_runs_of_every_kind_collapse() {
        assert_eq!(normalize_term("a\t\n b\u{00a0}\u{2003}c"), "a b c");
        assert_eq!(normalize_term(" \t "), "");
        assert_eq!(normalize_term(""), "");
    }

    #[test]
    fn compatibility_forms_fold() {
        // Ligature, superscript and the Kelvin sign all fold under NFKC.
        assert_eq!(normalize_term("ﬁre"), "fire");
        assert_eq!(normalize_term("x²"), "x2");
        assert_eq!(normalize_term("\u{212A}itten"), "kitten");
        assert_eq!(normalize_term("ÉCOLE"), "école");
    }
}
