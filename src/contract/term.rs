//! Term normalization, the one definition: the tailer writes `term` with it (and so every
//! daily job groups by it), and `eval` labels queries with it:
//! Unicode NFKC, then lowercase, then trim, then collapse each run of Unicode whitespace
//! into one ASCII space.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// Normalizes a search query into the `term` stored in `raw_events`; most queries already
/// are their term, and are returned as they are.
pub fn normalize_term(query: &str) -> Cow<'_, str> {
    match is_normal_ascii(query) {
        true => Cow::Borrowed(query),
        false => Cow::Owned(normalize(query)),
    }
}

/// The definition, applied in full. Each string is allocated once at its final size where
/// it can be: in the tailer this runs on every core at once, and a growing string's
/// `realloc` takes a lock the cores share.
fn normalize(query: &str) -> String {
    if query.is_ascii() {
        // NFKC is the identity on ASCII, and lowercasing ASCII moves no whitespace.
        let mut term = join_words(query);
        term.make_ascii_lowercase();
        return term;
    }
    let mut composed = String::with_capacity(query.len() * 2);
    composed.extend(query.nfkc());
    join_words(&composed.to_lowercase())
}

/// The words of `text` (split at runs of Unicode whitespace), one ASCII space between each.
fn join_words(text: &str) -> String {
    let mut joined = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(word);
    }
    joined
}

/// Printable ASCII without capitals, with single spaces between words only: a term already.
fn is_normal_ascii(query: &str) -> bool {
    let bytes = query.as_bytes();
    let lone_inner_space = |i: usize| i > 0 && i + 1 < bytes.len() && bytes[i + 1] != b' ';
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b' ' => lone_inner_space(i),
        _ => b.is_ascii_graphic() && !b.is_ascii_uppercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::{normalize, normalize_term};
    use rand::{rngs::StdRng, Rng, SeedableRng};

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

    #[test]
    fn the_shortcut_for_terms_that_are_already_normal_changes_nothing() {
        let alphabet = [
            'a', 'z', 'Q', '0', '~', ' ', ' ', '\t', '\u{b}', '\u{7f}', '\u{3000}', 'é',
        ];
        let mut rng = StdRng::seed_from_u64(9);
        let mut shortcuts = 0;
        for _ in 0..20_000 {
            let len = rng.random_range(0..8);
            let query: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let term = normalize_term(&query);
            shortcuts += matches!(term, std::borrow::Cow::Borrowed(_)) as u32;
            assert_eq!(term, normalize(&query), "{query:?}");
        }
        assert!(shortcuts > 1000, "{shortcuts}");
    }

    /// The definition as written, one step at a time.
    fn definition(query: &str) -> String {
        use unicode_normalization::UnicodeNormalization;
        let lowered = query.nfkc().collect::<String>().to_lowercase();
        lowered.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn normalization_is_the_definition_step_by_step() {
        // Final sigma, a dotted capital I that lowercases longer, a ligature that NFKC
        // expands, and every kind of whitespace, ASCII and not.
        let alphabet = [
            'a', 'Q', ' ', '\t', '\u{b}', '\u{c}', '\u{1f}', '\u{85}', '\u{3000}', 'Σ', 'İ', 'ﬃ',
            'ｃ', '²', 'É', '~',
        ];
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..20_000 {
            let len = rng.random_range(0..10);
            let query: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            assert_eq!(normalize(&query), definition(&query), "{query:?}");
            let ascii: String = query.chars().filter(char::is_ascii).collect();
            assert_eq!(normalize(&ascii), definition(&ascii), "{ascii:?}");
        }
    }
}
