//! A map over a slice on two threads, for the plans made once per DBC (each message's) while
//! the first log is read ahead on the other cores.

/// Below this many items, [`par_map`] maps on the calling thread only.
const PAR_MIN: usize = 64;

/// `f(index, item)` of every item, in order: on two threads when there are many (a thread
/// that cannot be started, or that fails, leaves its half to this one).
pub(crate) fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(usize, &T) -> U + Sync) -> Vec<U> {
    let map = |from: usize, part: &[T]| -> Vec<U> {
        part.iter()
            .enumerate()
            .map(|(i, item)| f(from + i, item))
            .collect()
    };
    if items.len() < PAR_MIN {
        return map(0, items);
    }
    let half = items.len() / 2;
    let (first, second) = items.split_at(half);
    std::thread::scope(|scope| {
        let other = std::thread::Builder::new().spawn_scoped(scope, || map(half, second));
        let mut out = map(0, first);
        match other.ok().and_then(|h| h.join().ok()) {
            Some(rest) => out.extend(rest),
            None => out.extend(map(half, second)),
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `par_map` gives each item's result at its place, with its index, whether it maps on
    /// one thread or two (odd and even counts around the threshold).
    #[test]
    fn test_par_map_keeps_order_and_indices() {
        for n in [0, 1, PAR_MIN - 1, PAR_MIN, PAR_MIN + 1, 1000, 1001] {
            let items: Vec<u64> = (0..n as u64).map(|i| i * 7 + 3).collect();
            let got = par_map(&items, |i, v| (i, v * 2));
            let want: Vec<(usize, u64)> =
                items.iter().enumerate().map(|(i, v)| (i, v * 2)).collect();
            assert_eq!(got, want, "{n} items");
        }
    }
}
