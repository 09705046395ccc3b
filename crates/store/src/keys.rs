//! Key ranges as byte strings, the way etcd compares keys.

/// The smallest key greater than every key starting with `prefix`, or `None`
/// when no such bound exists (the empty prefix, or one of only 0xff bytes).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The half-open byte range `[start, end)` a range request reads: the
/// prefix, narrowed to keys strictly after `after` when given.
pub(crate) struct KeyRange {
    pub start: Vec<u8>,
    /// Exclusive; `None` means no upper bound.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    pub fn new(prefix: &str, after: Option<&str>) -> KeyRange {
        let end = prefix_end(prefix.as_bytes());
        let start = match after {
            // The smallest key strictly greater than `after`.
            Some(after) if after.as_bytes() >= prefix.as_bytes() => {
                let mut start = after.as_bytes().to_vec();
                start.push(0);
                start
            }
            _ => prefix.as_bytes().to_vec(),
        };
        KeyRange { start, end }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// The end bound for SQL comparisons: with no bound, a key no real key
    /// can reach (keys are UTF-8, which never contains 0xff).
    pub fn end_or_max(&self) -> Vec<u8> {
        self.end.clone().unwrap_or_else(|| vec![0xff; 8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"/a/"), Some(b"/a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }

    #[test]
    fn range_excludes_neighbouring_prefixes_and_the_after_key() {
        let range = KeyRange::new("/a/", None);
        assert!(range.contains(b"/a/x"));
        assert!(!range.contains(b"/ab"));
        assert!(!range.contains(b"/a"));
        let range = KeyRange::new("/a/", Some("/a/x"));
        assert!(!range.contains(b"/a/x"));
        assert!(range.contains(b"/a/x\0"));
        assert!(range.contains(b"/a/y"));
        // An `after` before the prefix does not widen the range.
        let range = KeyRange::new("/b/", Some("/a/z"));
        assert!(!range.contains(b"/a/zz"));
        assert!(range.contains(b"/b/"));
    }
}
