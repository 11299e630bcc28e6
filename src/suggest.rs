//! "Did you mean": the known word closest to a misspelt one (a config key, a
//! template function, a rule or schedule name, an AWS region). The one home of
//! that rule for the whole crate; it depends on nothing else in the crate, so
//! any layer (`config`, `plan`, `cli`) may use it. No I/O.
//!
//! Distance: optimal string alignment (Levenshtein plus adjacent
//! transpositions, from `strsim`), compared case-insensitively. A candidate is
//! close enough within a third of the word's length (at least 1), the cut-off
//! rustc uses for its own suggestions: `reprot` → `report`, `must_evn` →
//! `must_env`, but a two-letter word is never "corrected" into another one.

/// The candidate closest to `word`, if one is close enough; on a tie, the
/// first one given. An exact match (ignoring case) is a distance of 0.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    let limit = (word.chars().count().max(3) / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(&word_lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The hint text for the closest candidate: "did you mean `X`?".
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(
            suggest("schedule_expression", ["scheduleExpression", "name"]).as_deref(),
            Some("did you mean `scheduleExpression`?")
        );
        assert_eq!(
            suggest("launchType", ["launch_type", "group"]).as_deref(),
            Some("did you mean `launch_type`?")
        );
        assert_eq!(suggest("zzzzzz", ["name", "group"]), None);
        assert_eq!(suggest("anything", []), None);
    }

    #[test]
    fn transpositions_count_once() {
        assert_eq!(closest("reprot", ["report", "rerun"]), Some("report"));
        assert_eq!(closest("must_evn", ["must_env", "env"]), Some("must_env"));
        assert_eq!(
            closest("jsonescape", ["json_escape", "env"]),
            Some("json_escape")
        );
    }

    #[test]
    fn short_words_need_a_near_exact_match() {
        // Builtins such as `eq`, `or`, `if` must not be offered for any 2-letter typo.
        assert_eq!(closest("xy", ["eq", "or", "if"]), None);
        assert_eq!(closest("iff", ["if", "or"]), Some("if"));
        assert_eq!(closest("env_or", ["env", "or", "must_env"]), None);
    }

    #[test]
    fn case_is_ignored_and_the_first_best_wins() {
        assert_eq!(closest("LAUNCH_TYPE", ["launch_type"]), Some("launch_type"));
        assert_eq!(closest("ab1", ["ab2", "ab3"]), Some("ab2"));
    }
}
