//! A generation-stamped visited set: clearing it between queries is one increment instead of a
//! memset over every slot. One lives in each thread's reusable search scratch.

#[derive(Debug, Default)]
pub(crate) struct VisitedSet {
    marks: Vec<u16>,
    generation: u16,
}

impl VisitedSet {
    /// Forgets every visit and makes room for slots `0..capacity`.
    pub(crate) fn reset(&mut self, capacity: usize) {
        if self.marks.len() < capacity {
            self.marks.resize(capacity, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: old marks could alias the new generation.
            self.marks.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `slot` visited; true if it was not visited before.
    #[inline(always)]
    pub(crate) fn insert(&mut self, slot: u32) -> bool {
        let mark = &mut self.marks[slot as usize];
        if *mark == self.generation {
            false
        } else {
            *mark = self.generation;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_forgets_visits_even_across_generation_wraparound() {
        let mut v = VisitedSet::default();
        v.reset(10);
        assert!(v.insert(3));
        assert!(!v.insert(3));
        for _ in 0..70_000 {
            v.reset(10);
            assert!(v.insert(3), "slot 3 must be unvisited after reset (generation {})", v.generation);
        }
        v.reset(20);
        assert!(v.insert(19));
    }
}
