//! Several captures as one, in time order: a k-way merge that holds one record of each input.
//!
//! Records of each input are expected in their own time order (a capture's); the merge gives
//! the earliest held record next, and among equal times the one read first. Errors pass
//! through as they are read; one that ends its input (`ends`) stops reading that input, the
//! others go on.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::time::Timestamp;

/// The merged records of `inputs`, by `time`; `ends` tells which errors end their input.
///
/// ```
/// use canrelearn::log::merge::by_time;
/// use canrelearn::Timestamp;
///
/// let at = Timestamp::from_nanos;
/// let a = vec![Ok::<_, ()>(at(1)), Ok(at(5))].into_iter();
/// let b = vec![Ok(at(2)), Ok(at(3))].into_iter();
/// let merged: Vec<_> = by_time(vec![a, b], |t| *t, |_| false).collect();
/// assert_eq!(merged, [Ok(at(1)), Ok(at(2)), Ok(at(3)), Ok(at(5))]);
/// ```
pub fn by_time<T, E, I: Iterator<Item = Result<T, E>>>(
    inputs: Vec<I>,
    time: impl Fn(&T) -> Timestamp,
    ends: impl Fn(&E) -> bool,
) -> impl Iterator<Item = Result<T, E>> {
    let mut merge = Merge {
        held: (0..inputs.len()).map(|_| None).collect(),
        inputs,
        heads: BinaryHeap::new(),
        errors: VecDeque::new(),
        seq: 0,
    };
    let mut started = false;
    std::iter::from_fn(move || {
        // Nothing is read before the first record is asked for (the caller may hand the
        // merge to a thread of its own first).
        if !started {
            started = true;
            for i in 0..merge.inputs.len() {
                merge.refill(i, &time, &ends);
            }
        }
        if let Some(e) = merge.errors.pop_front() {
            return Some(Err(e));
        }
        let Reverse((_, _, i)) = merge.heads.pop()?;
        let r = merge.held.get_mut(i).and_then(Option::take);
        merge.refill(i, &time, &ends);
        r.map(Ok)
    })
}

struct Merge<T, E, I> {
    inputs: Vec<I>,
    /// (time, read order, input) of each input's held record, earliest first.
    heads: BinaryHeap<Reverse<(Timestamp, u64, usize)>>,
    held: Vec<Option<T>>,
    errors: VecDeque<E>,
    seq: u64,
}

impl<T, E, I: Iterator<Item = Result<T, E>>> Merge<T, E, I> {
    /// Reads input `i` up to its next record (keeping the errors met on the way).
    fn refill(&mut self, i: usize, time: &impl Fn(&T) -> Timestamp, ends: &impl Fn(&E) -> bool) {
        let Some(input) = self.inputs.get_mut(i) else {
            return;
        };
        for item in input.by_ref() {
            match item {
                Ok(r) => {
                    self.seq += 1;
                    self.heads.push(Reverse((time(&r), self.seq, i)));
                    if let Some(slot) = self.held.get_mut(i) {
                        *slot = Some(r);
                    }
                    return;
                }
                Err(e) => {
                    let end = ends(&e);
                    self.errors.push_back(e);
                    if end {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Item = Result<(u64, usize), String>;

    fn merged(inputs: Vec<Vec<Item>>) -> Vec<Item> {
        let inputs = inputs.into_iter().map(Vec::into_iter).collect();
        by_time(
            inputs,
            |&(t, _)| Timestamp::from_nanos(t),
            |e: &String| e.starts_with("fatal"),
        )
        .collect()
    }

    #[test]
    fn test_errors_pass_through_and_a_fatal_one_ends_its_input() {
        let a = vec![Ok((1, 0)), Err("bad".into()), Ok((4, 0))];
        let b = vec![Ok((2, 1)), Err("fatal: cut".into()), Ok((3, 1))];
        let out = merged(vec![a, b]);
        assert_eq!(
            out,
            [
                Ok((1, 0)),
                Err("bad".into()),
                Ok((2, 1)),
                Err("fatal: cut".into()),
                Ok((4, 0)),
            ],
            "b's record after its fatal error is never read"
        );
    }

    /// Regression: `dump a.log b.log` gave the frames of one log, then the other's.
    #[test]
    fn test_two_captures_interleave() {
        let a = vec![Ok((0, 1)), Ok((20, 3)), Ok((40, 5))];
        let b = vec![Ok((10, 2)), Ok((30, 4)), Ok((50, 6))];
        let ids: Vec<usize> = merged(vec![a, b])
            .into_iter()
            .map(|r| r.unwrap().1)
            .collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    }

    proptest! {
        /// Sorted inputs merge into one sorted sequence holding every record once; among
        /// equal times, each input's own order is kept.
        #[test]
        fn prop_merge_is_a_stable_sorted_union(
            inputs in prop::collection::vec(prop::collection::vec(0u64..50, 0..30), 0..6)
        ) {
            let inputs: Vec<Vec<Item>> = inputs
                .into_iter()
                .enumerate()
                .map(|(i, mut ts)| {
                    ts.sort_unstable();
                    ts.into_iter().map(|t| Ok((t, i))).collect()
                })
                .collect();
            let mut expected: Vec<(u64, usize)> =
                inputs.iter().flatten().map(|r| *r.as_ref().unwrap()).collect();
            expected.sort_unstable();
            let out: Vec<(u64, usize)> = merged(inputs).into_iter().map(Result::unwrap).collect();
            let mut sorted = out.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, expected);
            prop_assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }
}
