//! Termination of hand-written NextToken loops (the EventBridge SDK has no
//! paginators). A loop stops when the service sends no token, an empty one, or a
//! token it already sent: moto's ListTargetsByRule returns the same page and token
//! forever, and a real service doing so must not hang ecsched either.

use std::collections::HashSet;

/// The tokens seen so far by one pagination loop.
#[derive(Debug, Default)]
pub(crate) struct PageTokens {
    seen: HashSet<String>,
}

impl PageTokens {
    /// The token to request the next page with, or `None` when the loop must stop.
    pub(crate) fn next(&mut self, token: Option<&str>) -> Option<String> {
        let token = token.filter(|t| !t.is_empty())?;
        self.seen
            .insert(token.to_string())
            .then(|| token.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_on_missing_empty_or_repeated_token() {
        let mut p = PageTokens::default();
        assert_eq!(p.next(Some("a")).as_deref(), Some("a"));
        assert_eq!(p.next(Some("b")).as_deref(), Some("b"));
        assert_eq!(p.next(Some("a")), None);
        assert_eq!(PageTokens::default().next(Some("")), None);
        assert_eq!(PageTokens::default().next(None), None);
    }
}
