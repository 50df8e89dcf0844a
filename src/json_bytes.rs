//! Where JSON text's special bytes are, fast: the search under every string the tailer
//! parses and every string `check` and a tracking plan scan.

/// Where the first `"`, `\` or control character (below 0x20) is: sixteen bytes at a time
/// with SSE2 (part of every x86-64 CPU), the rest eight at a time.
#[cfg(target_arch = "x86_64")]
pub fn find_quote_backslash_or_control(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut at = 0;
    while at + 16 <= bytes.len() {
        // SAFETY: the 16 bytes from `at` are inside `bytes` (an unaligned load is allowed),
        // and SSE2 is enabled on every x86-64 target.
        let found = unsafe {
            let v = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // v <= 0x1f (unsigned) exactly when max(v, 0x1f) is 0x1f.
            let limit = _mm_set1_epi8(0x1f);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
        };
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize);
        }
        at += 16;
    }
    find_in_words(&bytes[at..]).map(|i| at + i)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn find_quote_backslash_or_control(bytes: &[u8]) -> Option<usize> {
    find_in_words(bytes)
}

/// [`find_quote_backslash_or_control`], eight bytes at a time in a `u64`. Each test flags its
/// first match exactly (a borrow only moves upwards), so the lowest flag of the three is the
/// answer.
fn find_in_words(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x;
    let mut words = bytes.chunks_exact(8);
    for (i, word) in words.by_ref().enumerate() {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let found = (zero_byte(w ^ (ONES * b'"' as u64))
            | zero_byte(w ^ (ONES * b'\\' as u64))
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGH_BITS;
        if found != 0 {
            return Some(i * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    let tail = words.remainder();
    let at = tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(bytes.len() - tail.len() + at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::IndexedRandom;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn the_vector_and_word_searches_find_the_first_special_byte() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50_000 {
            let len = rng.random_range(0..80);
            // From dense to none at all, so that every 16- and 8-byte step is crossed.
            let one_in = rng.random_range(2..200);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.random_range(0..one_in) {
                    0 => *[b'"', b'\\', 0x00, 0x1f].choose(&mut rng).unwrap(),
                    1 => *[0x20, 0x7f, 0x80, 0x9f, 0xff].choose(&mut rng).unwrap(),
                    _ => rng.random_range(0x20..=0xff),
                })
                .collect();
            let expected = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            assert_eq!(
                find_quote_backslash_or_control(&bytes),
                expected,
                "{bytes:?}"
            );
            assert_eq!(find_in_words(&bytes), expected, "{bytes:?}");
        }
    }
}
