//! The search tree of MCTS and its pure rules: UCT selection (unvisited children first),
//! backup of a value to every ancestor, which subtrees are exhausted, and which node is the
//! answer. Nodes hold an item (a partial solution in the search; anything in tests).

/// The root's index.
pub(crate) const ROOT: usize = 0;

/// One node: a step, with the statistics of the subtree under it.
#[derive(Clone, Debug)]
pub(crate) struct Node<T> {
    pub(crate) item: T,
    pub(crate) parent: Option<usize>,
    /// In the order they were added (earlier wins ties).
    pub(crate) children: Vec<usize>,
    /// Backups through this node.
    pub(crate) visits: u32,
    /// The sum of the values backed up through this node.
    pub(crate) total: f64,
    /// The node's own value (its score when it was added).
    pub(crate) value: f64,
    /// Cannot be extended (a finished solution, or one out of room).
    pub(crate) terminal: bool,
}

impl<T> Node<T> {
    /// The mean value backed up through this node (0 before any).
    pub(crate) fn mean(&self) -> f64 {
        if self.visits == 0 {
            0.0
        } else {
            self.total / f64::from(self.visits)
        }
    }
}

/// A tree grown from one root.
#[derive(Clone, Debug)]
pub(crate) struct Tree<T> {
    pub(crate) nodes: Vec<Node<T>>,
}

impl<T> Tree<T> {
    /// A tree of one unvisited root.
    pub(crate) fn new(root: T) -> Self {
        Self {
            nodes: vec![Node {
                item: root,
                parent: None,
                children: Vec::new(),
                visits: 0,
                total: 0.0,
                value: 0.0,
                terminal: false,
            }],
        }
    }

    pub(crate) fn node(&self, id: usize) -> &Node<T> {
        &self.nodes[id]
    }

    /// Adds an unvisited child of `parent` with its own value; its index.
    pub(crate) fn add(&mut self, parent: usize, item: T, value: f64, terminal: bool) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            item,
            parent: Some(parent),
            children: Vec::new(),
            visits: 0,
            total: 0.0,
            value,
            terminal,
        });
        self.nodes[parent].children.push(id);
        id
    }

    /// Marks a node as one that cannot be extended.
    pub(crate) fn set_terminal(&mut self, id: usize) {
        self.nodes[id].terminal = true;
    }

    /// The UCT score of `child` under its parent: mean value + c * sqrt(ln N_parent /
    /// n_child) (infinite for an unvisited child).
    pub(crate) fn uct(&self, child: usize, c: f64) -> f64 {
        let node = &self.nodes[child];
        if node.visits == 0 {
            return f64::INFINITY;
        }
        let parent = node.parent.map_or(node.visits, |p| self.nodes[p].visits);
        let n = f64::from(node.visits);
        node.mean() + c * (f64::from(parent.max(1)).ln() / n).sqrt()
    }

    /// The child of `id` to descend into: the first unvisited one, else the best UCT score
    /// (ties: the earlier child). `None` for a node without children.
    pub(crate) fn select_child(&self, id: usize, c: f64) -> Option<usize> {
        let children = &self.nodes[id].children;
        if let Some(&unvisited) = children.iter().find(|&&k| self.nodes[k].visits == 0) {
            return Some(unvisited);
        }
        let mut best: Option<(usize, f64)> = None;
        for &k in children {
            let score = self.uct(k, c);
            if best.is_none_or(|(_, b)| score > b) {
                best = Some((k, score));
            }
        }
        best.map(|(k, _)| k)
    }

    /// The leaf reached from the root by [`Self::select_child`]: a node without children
    /// (to expand) or a terminal one (to back up again).
    pub(crate) fn select(&self, c: f64) -> usize {
        let mut at = ROOT;
        while !self.nodes[at].terminal {
            match self.select_child(at, c) {
                Some(next) => at = next,
                None => break,
            }
        }
        at
    }

    /// Adds `value` to `id` and every ancestor, one visit each.
    pub(crate) fn backup(&mut self, id: usize, value: f64) {
        let mut at = Some(id);
        while let Some(k) = at {
            let node = &mut self.nodes[k];
            node.visits += 1;
            node.total += value;
            at = node.parent;
        }
    }

    /// Whether nothing under `id` can be extended any more: it is terminal, or it has
    /// children and every one is exhausted.
    pub(crate) fn exhausted(&self, id: usize) -> bool {
        let node = &self.nodes[id];
        node.terminal
            || (!node.children.is_empty() && node.children.iter().all(|&k| self.exhausted(k)))
    }

    /// The best of `ids` by mean value, then visits, then the earlier (smaller index).
    pub(crate) fn best_of(&self, ids: impl IntoIterator<Item = usize>) -> Option<usize> {
        let mut best: Option<usize> = None;
        for id in ids {
            let better = best.is_none_or(|b| {
                let (n, m) = (&self.nodes[id], &self.nodes[b]);
                n.mean()
                    .total_cmp(&m.mean())
                    .then(n.visits.cmp(&m.visits))
                    .then(b.cmp(&id))
                    .is_gt()
            });
            if better {
                best = Some(id);
            }
        }
        best
    }

    /// The path of most-visited children from the root to a leaf (ties: the earlier child);
    /// its last node.
    pub(crate) fn most_visited_leaf(&self) -> usize {
        let mut at = ROOT;
        loop {
            let mut best: Option<usize> = None;
            for &k in &self.nodes[at].children {
                if best.is_none_or(|b| self.nodes[k].visits > self.nodes[b].visits) {
                    best = Some(k);
                }
            }
            match best {
                Some(next) => at = next,
                None => return at,
            }
        }
    }

    /// Nodes besides the root.
    pub(crate) fn grown(&self) -> usize {
        self.nodes.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// root -> a (0.5), b (0.9), c (0.2), each backed up once; a has a child a1 (1.0).
    fn scripted() -> (Tree<&'static str>, [usize; 4]) {
        let mut tree = Tree::new("root");
        let a = tree.add(ROOT, "a", 0.5, false);
        let b = tree.add(ROOT, "b", 0.9, false);
        let c = tree.add(ROOT, "c", 0.2, false);
        for id in [a, b, c] {
            let v = tree.node(id).value;
            tree.backup(id, v);
        }
        let a1 = tree.add(a, "a1", 1.0, true);
        tree.backup(a1, 1.0);
        (tree, [a, b, c, a1])
    }

    #[test]
    fn backup_adds_the_value_to_every_ancestor() {
        let (tree, [a, b, c, a1]) = scripted();
        let root = tree.node(ROOT);
        assert_eq!(root.visits, 4);
        assert!((root.total - 2.6).abs() < 1e-12);
        assert!((root.mean() - 0.65).abs() < 1e-12);
        assert_eq!(tree.node(a).visits, 2);
        assert!(
            (tree.node(a).mean() - 0.75).abs() < 1e-12,
            "(0.5 + 1.0) / 2"
        );
        assert_eq!((tree.node(b).visits, tree.node(c).visits), (1, 1));
        assert_eq!((tree.node(a1).visits, tree.node(a1).mean()), (1, 1.0));
        assert_eq!(tree.grown(), 4);
    }

    #[test]
    fn uct_prefers_value_plus_exploration_and_unvisited_children_first() {
        let (mut tree, [a, b, c, _]) = scripted();
        // N = 4: a: 0.75 + sqrt(ln 4 / 2) = 1.5826; b: 0.9 + sqrt(ln 4) = 2.0774;
        // c: 0.2 + sqrt(ln 4) = 1.3774
        let ln4 = 4f64.ln();
        assert!((tree.uct(a, 1.0) - (0.75 + (ln4 / 2.0).sqrt())).abs() < 1e-12);
        assert!((tree.uct(b, 1.0) - (0.9 + ln4.sqrt())).abs() < 1e-12);
        assert_eq!(tree.select_child(ROOT, 1.0), Some(b));
        // without exploration the best mean wins: b (0.9) over a (0.75)
        assert_eq!(tree.select_child(ROOT, 0.0), Some(b));
        // with a large c the least visited win; b and c tie on visits, b has the higher mean
        assert_eq!(tree.select_child(ROOT, 100.0), Some(b));
        // selection descends to a leaf: b has no children
        assert_eq!(tree.select(1.0), b);
        // an unvisited child is chosen before any visited one, the first of them
        let d = tree.add(ROOT, "d", 0.0, false);
        let e = tree.add(ROOT, "e", 0.0, false);
        assert_eq!(tree.select_child(ROOT, 1.0), Some(d));
        tree.backup(d, 0.0);
        assert_eq!(tree.select_child(ROOT, 1.0), Some(e));
        assert_eq!(tree.select(1.0), e);
        let _ = c;
    }

    #[test]
    fn equal_uct_scores_choose_the_earlier_child() {
        let mut tree = Tree::new(());
        let x = tree.add(ROOT, (), 0.4, false);
        let y = tree.add(ROOT, (), 0.4, false);
        tree.backup(x, 0.4);
        tree.backup(y, 0.4);
        assert_eq!(tree.uct(x, 1.0), tree.uct(y, 1.0));
        assert_eq!(tree.select_child(ROOT, 1.0), Some(x));
        // one more visit through x: y now has the bonus, 0.4 + sqrt(ln 3) > 0.4 + sqrt(ln 3 / 2)
        tree.backup(x, 0.4);
        assert_eq!(tree.select_child(ROOT, 1.0), Some(y));
    }

    #[test]
    fn a_selected_terminal_node_is_where_selection_stops() {
        let (mut tree, [a, b, c, a1]) = scripted();
        // make a the clear favourite: its terminal child a1 is reached and backed up again
        for _ in 0..5 {
            tree.backup(a1, 1.0);
        }
        assert_eq!(tree.node(a).visits, 7);
        assert_eq!(tree.select(0.0), a1);
        assert!(!tree.exhausted(ROOT), "b and c can still be extended");
        assert!(tree.exhausted(a) && tree.exhausted(a1));
        tree.set_terminal(b);
        tree.set_terminal(c);
        assert!(tree.exhausted(ROOT));
    }

    #[test]
    fn the_answer_is_the_best_mean_then_visits_then_the_earlier() {
        let mut tree = Tree::new(());
        let p = tree.add(ROOT, (), 0.8, true);
        let q = tree.add(ROOT, (), 0.8, true);
        let r = tree.add(ROOT, (), 0.6, true);
        for id in [p, q, r] {
            let v = tree.node(id).value;
            tree.backup(id, v);
        }
        assert_eq!(tree.best_of([p, q, r]), Some(p), "equal: the earlier");
        tree.backup(q, 0.8);
        assert_eq!(tree.best_of([p, q, r]), Some(q), "equal means: more visits");
        assert_eq!(tree.best_of([r]), Some(r));
        assert_eq!(tree.best_of([]), None);
        // most visited: q (2) from the root, a leaf
        assert_eq!(tree.most_visited_leaf(), q);
        let q1 = tree.add(q, (), 0.1, false);
        let q2 = tree.add(q, (), 0.1, false);
        tree.backup(q2, 0.1);
        assert_eq!(tree.most_visited_leaf(), q2);
        let _ = q1;
    }
}
