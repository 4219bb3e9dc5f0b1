//! Printing a tape: one line per node ([`Tape::render`], `Display`) or a Graphviz graph
//! ([`Tape::to_dot`]), for the tours and for debugging. Nothing here runs in a training step.

use crate::ops::Op;
use crate::params::ParamStore;
use crate::tape::Tape;
use std::fmt;

impl Tape {
    /// The graph in Graphviz DOT: one box per node with its op and shape, edges from inputs.
    /// Render with `dot -Tpng graph.dot -o graph.png`.
    pub fn to_dot(&self) -> String {
        self.to_dot_named(None)
    }

    /// [`Tape::to_dot`] with parameters labelled by their names in `store`.
    pub fn to_dot_named(&self, store: Option<&ParamStore>) -> String {
        use std::fmt::Write;
        let inner = self.inner.borrow();
        let mut s = String::from(
            "digraph tape {\n  rankdir=BT;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for (id, n) in inner.nodes.iter().enumerate() {
            let style = match n.op {
                Op::Param => ", style=filled, fillcolor=\"#ffe9a8\"",
                Op::Leaf => ", style=filled, fillcolor=\"#cfe8ff\"",
                Op::Constant => ", style=filled, fillcolor=\"#eeeeee\"",
                _ => "",
            };
            let label = match (n.param, store) {
                (Some(p), Some(st)) if p.0 < st.len() => st.name(p).to_string(),
                _ => n.op.label(),
            };
            let _ = writeln!(
                s,
                "  n{id} [label=\"%{id} {label}\\n{}\"{style}];",
                n.value.shape
            );
            for &i in n.inputs(&inner.extra) {
                let _ = writeln!(s, "  n{i} -> n{id};");
            }
        }
        s.push_str("}\n");
        s
    }

    /// Bytes held by node values (owned and shared).
    pub fn bytes(&self) -> usize {
        let inner = self.inner.borrow();
        inner.nodes.iter().map(|n| n.value.numel() * 4).sum()
    }
}

impl Tape {
    /// The tape as text, one line per node: `%id = op(%a, %b)  shape  bytes  grad`, with
    /// parameters named when their store is given.
    pub fn render(&self, store: Option<&ParamStore>) -> String {
        use std::fmt::Write;
        let inner = self.inner.borrow();
        let mut s = String::new();
        for (id, n) in inner.nodes.iter().enumerate() {
            let args: Vec<String> = n
                .inputs(&inner.extra)
                .iter()
                .map(|i| format!("%{i}"))
                .collect();
            let call = match (n.param, store) {
                (Some(p), Some(st)) if p.0 < st.len() => format!("param({})", st.name(p)),
                (Some(p), _) => format!("param(#{})", p.0),
                _ => format!("{}({})", n.op.label(), args.join(", ")),
            };
            let _ = writeln!(
                s,
                "%{id:<3} = {call:<34} {:<12} {:>9} B  {}",
                format!("{}", n.value.shape),
                n.value.numel() * 4,
                if n.requires_grad { "grad" } else { "" }
            );
        }
        s
    }
}

impl fmt::Display for Tape {
    /// One line per node: `%id = op(%a, %b)  shape  bytes  [grad]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(None))
    }
}
