//! Subsets of the real line: intervals, finite sets of points, unions (`\cup`), differences
//! (`\setminus`) and `\mathbb{R}`, brought to one canonical form (disjoint intervals in
//! increasing order, touching ones merged), so that `(1,4) \cup (4,10)`, `(4,10) \cup (1,4)` and
//! `(1,10) \setminus \{4\}` are one set and `[1,4] \cup [4,9]` is `[1,9]`. Endpoints are floats
//! (`±∞` allowed), compared with a relative tolerance; the caller gives up on a set whose
//! endpoints are not real numbers and compares it as written.

/// Relative tolerance for endpoints.
const TOL: f64 = 1e-9;

/// One interval; a point is `[p, p]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub lo_closed: bool,
    pub hi: f64,
    pub hi_closed: bool,
}

/// A subset of the real line in canonical form.
#[derive(Clone, Debug, PartialEq)]
pub struct Region(Vec<Interval>);

fn close(a: f64, b: f64) -> bool {
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= TOL * a.abs().max(b.abs()).max(1.0)
}

impl Interval {
    fn is_empty(&self) -> bool {
        if close(self.lo, self.hi) {
            !(self.lo_closed && self.hi_closed) || self.lo.is_infinite()
        } else {
            self.lo > self.hi
        }
    }

    /// Infinite ends are open, whatever bracket was written.
    fn tidy(mut self) -> Self {
        self.lo_closed &= self.lo.is_finite();
        self.hi_closed &= self.hi.is_finite();
        self
    }
}

impl Region {
    /// `lo..hi` with the given closedness (empty when `lo > hi`).
    pub fn interval(lo: f64, lo_closed: bool, hi: f64, hi_closed: bool) -> Self {
        Self::canonical(vec![Interval {
            lo,
            lo_closed,
            hi,
            hi_closed,
        }])
    }

    pub fn empty() -> Self {
        Region(Vec::new())
    }

    pub fn point(x: f64) -> Self {
        Self::interval(x, true, x, true)
    }

    pub fn reals() -> Self {
        Self::interval(f64::NEG_INFINITY, false, f64::INFINITY, false)
    }

    fn canonical(parts: Vec<Interval>) -> Self {
        let mut parts: Vec<Interval> = parts
            .into_iter()
            .map(Interval::tidy)
            .filter(|i| !i.is_empty() && !i.lo.is_nan() && !i.hi.is_nan())
            .collect();
        parts.sort_by(|a, b| {
            a.lo.total_cmp(&b.lo)
                .then_with(|| b.lo_closed.cmp(&a.lo_closed))
        });
        let mut out: Vec<Interval> = Vec::with_capacity(parts.len());
        for next in parts {
            let Some(cur) = out.last_mut() else {
                out.push(next);
                continue;
            };
            let touches = close(cur.hi, next.lo) && (cur.hi_closed || next.lo_closed);
            let overlaps = cur.hi > next.lo && !close(cur.hi, next.lo);
            if !touches && !overlaps {
                out.push(next);
                continue;
            }
            if close(next.hi, cur.hi) {
                cur.hi_closed |= next.hi_closed;
            } else if next.hi > cur.hi {
                cur.hi = next.hi;
                cur.hi_closed = next.hi_closed;
            }
        }
        Region(out)
    }

    pub fn union(self, other: Region) -> Region {
        let mut parts = self.0;
        parts.extend(other.0);
        Self::canonical(parts)
    }

    pub fn complement(&self) -> Region {
        let mut parts = Vec::with_capacity(self.0.len() + 1);
        let (mut lo, mut lo_closed) = (f64::NEG_INFINITY, false);
        for i in &self.0 {
            parts.push(Interval {
                lo,
                lo_closed,
                hi: i.lo,
                hi_closed: !i.lo_closed,
            });
            (lo, lo_closed) = (i.hi, !i.hi_closed);
        }
        parts.push(Interval {
            lo,
            lo_closed,
            hi: f64::INFINITY,
            hi_closed: false,
        });
        Self::canonical(parts)
    }

    pub fn intersect(&self, other: &Region) -> Region {
        let mut parts = Vec::new();
        for a in &self.0 {
            for b in &other.0 {
                let (lo, lo_closed) = if close(a.lo, b.lo) {
                    (a.lo, a.lo_closed && b.lo_closed)
                } else if a.lo > b.lo {
                    (a.lo, a.lo_closed)
                } else {
                    (b.lo, b.lo_closed)
                };
                let (hi, hi_closed) = if close(a.hi, b.hi) {
                    (a.hi, a.hi_closed && b.hi_closed)
                } else if a.hi < b.hi {
                    (a.hi, a.hi_closed)
                } else {
                    (b.hi, b.hi_closed)
                };
                parts.push(Interval {
                    lo,
                    lo_closed,
                    hi,
                    hi_closed,
                });
            }
        }
        Self::canonical(parts)
    }

    /// `self \setminus other`.
    pub fn minus(&self, other: &Region) -> Region {
        self.intersect(&other.complement())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same set (endpoints within the tolerance, same closedness).
    pub fn same(&self, other: &Region) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| {
                close(a.lo, b.lo)
                    && close(a.hi, b.hi)
                    && a.lo_closed == b.lo_closed
                    && a.hi_closed == b.hi_closed
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Region;

    const INF: f64 = f64::INFINITY;

    fn open(a: f64, b: f64) -> Region {
        Region::interval(a, false, b, false)
    }

    fn closed(a: f64, b: f64) -> Region {
        Region::interval(a, true, b, true)
    }

    #[test]
    fn unions_are_merged_in_order() {
        let a = open(4.0, 10.0).union(open(1.0, 4.0));
        assert!(a.same(&open(1.0, 4.0).union(open(4.0, 10.0))));
        assert!(!a.same(&open(1.0, 10.0)));
        assert!(
            closed(1.0, 4.0)
                .union(closed(4.0, 9.0))
                .same(&closed(1.0, 9.0))
        );
        assert!(
            open(1.0, 4.0)
                .union(closed(4.0, 9.0))
                .same(&Region::interval(1.0, false, 9.0, true))
        );
        assert!(open(1.0, 5.0).union(open(2.0, 3.0)).same(&open(1.0, 5.0)));
    }

    #[test]
    fn differences_and_complements() {
        let punctured = open(1.0, 10.0).minus(&Region::point(4.0));
        assert!(punctured.same(&open(1.0, 4.0).union(open(4.0, 10.0))));
        let outside = Region::reals().minus(&closed(1.0, 5.0));
        assert!(outside.same(&open(-INF, 1.0).union(open(5.0, INF))));
        assert!(!outside.same(&Region::reals().minus(&open(1.0, 5.0))));
        // brackets at infinity do not matter
        assert!(Region::interval(2.0, false, INF, true).same(&open(2.0, INF)));
        assert!(Region::reals().complement().same(&Region::empty()));
        assert!(closed(3.0, 1.0).same(&Region::empty()));
    }
}
