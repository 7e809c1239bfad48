//! `IdList`: a list whose items are also found by their id.
//!
//! Positions are what the engines use (a service is `usize` everywhere); ids are what requests
//! and config files name. Keeping the lookup inside the list means it can never disagree
//! with the items: the list is built once and never changes.

use std::ops::Deref;
use std::sync::Arc;

use crate::hash::FastMap;

/// Items in their configured order, plus a map from id to position. Dereferences to the
/// slice, so `list[k]`, `list.len()` and `list.iter()` work as on a `Vec`.
#[derive(Debug)]
pub struct IdList<T> {
    items: Vec<T>,
    /// Id → position in `items`. Should two items share an id (the config loader refuses
    /// that), the later one wins.
    index: FastMap<Arc<str>, usize>,
}

impl<T> IdList<T> {
    /// The list with `id` naming each item.
    pub fn new(items: Vec<T>, id: impl Fn(&T) -> &Arc<str>) -> Self {
        let index = items
            .iter()
            .enumerate()
            .map(|(k, item)| (id(item).clone(), k))
            .collect();
        IdList { items, index }
    }

    /// Position of the item with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Every id, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(|k| &**k)
    }
}

impl<T> Deref for IdList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<'a, T> IntoIterator for &'a IdList<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_items_and_the_list_reads_as_a_slice() {
        let list = IdList::new(vec![Arc::<str>::from("tax"), Arc::from("social")], |s| s);
        assert_eq!(list.position("social"), Some(1));
        assert_eq!(list.position("tax"), Some(0));
        assert_eq!(list.position("residence"), None);
        assert_eq!(list.len(), 2);
        assert_eq!(&*list[1], "social");
        let mut ids: Vec<&str> = list.ids().collect();
        ids.sort_unstable();
        assert_eq!(ids, ["social", "tax"]);
    }
}
