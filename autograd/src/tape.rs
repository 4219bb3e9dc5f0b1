//! The tape: a `Vec` of nodes in creation order, which is a topological order, so backward is one
//! reverse sweep. [`Var`] is a cheap `Copy` handle: a node id plus a reference to its tape.

use crate::error::Error;
use crate::grads::Gradients;
use crate::ops::Op;
use crate::params::{ParamId, ParamStore};
use crate::pool::Pool;
use crate::{Shape, Tensor};
use std::cell::{Ref, RefCell};
use std::fmt;
use std::rc::Rc;

/// A node's value: owned by the tape, or shared with a [`ParamStore`] (no copy).
pub(crate) enum Value {
    Owned(Tensor),
    Shared(Rc<Tensor>),
}

impl std::ops::Deref for Value {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        match self {
            Value::Owned(t) => t,
            Value::Shared(t) => t,
        }
    }
}

/// One recorded op: what it was, what it read, what it produced.
pub(crate) struct Node {
    pub(crate) op: Op,
    /// Input node ids; `Op::Concat` keeps its inputs in `Inner::extra[inputs[0]..inputs[1]]`.
    pub(crate) inputs: [usize; 3],
    pub(crate) n_inputs: u8,
    pub(crate) value: Value,
    pub(crate) requires_grad: bool,
    pub(crate) param: Option<ParamId>,
}

impl Node {
    pub(crate) fn inputs<'a>(&'a self, extra: &'a [usize]) -> &'a [usize] {
        match self.op {
            Op::Concat { .. } => &extra[self.inputs[0]..self.inputs[1]],
            _ => &self.inputs[..self.n_inputs as usize],
        }
    }
}

pub(crate) struct Inner {
    pub(crate) nodes: Vec<Node>,
    pub(crate) extra: Vec<usize>,
    pub(crate) pool: Pool,
    no_grad_depth: usize,
    anomaly: bool,
    first_anomaly: Option<Error>,
}

/// Records ops as they are built and differentiates them in reverse.
///
/// ```
/// use autograd::{Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]));
/// let y = (x * x).sum(); // y = sum x^2, dy/dx = 2x
/// let grads = tape.backward(y);
/// assert_eq!(grads.wrt(x).data, vec![2.0, 4.0, 6.0]);
/// ```
pub struct Tape {
    pub(crate) inner: RefCell<Inner>,
}

/// A handle to a node on a tape: cheap to copy, and the receiver of every op.
#[derive(Clone, Copy)]
pub struct Var<'t> {
    pub(crate) id: usize,
    pub(crate) tape: &'t Tape,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape {
            inner: RefCell::new(Inner {
                nodes: Vec::new(),
                extra: Vec::new(),
                pool: Pool::default(),
                no_grad_depth: 0,
                anomaly: false,
                first_anomaly: None,
            }),
        }
    }

    /// A leaf that needs a gradient (an input you differentiate with respect to).
    pub fn var(&self, value: Tensor) -> Var<'_> {
        let rg = self.grad_enabled();
        self.push_leaf(Op::Leaf, Value::Owned(value), rg, None)
    }

    /// A leaf that needs no gradient (data, targets, noise): backward spends nothing on it.
    pub fn constant(&self, value: Tensor) -> Var<'_> {
        self.push_leaf(Op::Constant, Value::Owned(value), false, None)
    }

    /// A constant leaf filled from a slice, reusing one of the tape's buffers (no allocation in a
    /// steady-state step).
    #[track_caller]
    pub fn constant_from(&self, data: &[f32], dims: &[usize]) -> Var<'_> {
        let shape = Shape::new(dims);
        assert_eq!(
            data.len(),
            shape.numel(),
            "constant_from: {} elements do not fill shape {shape}",
            data.len()
        );
        let buf = self.inner.borrow_mut().pool.take_copy(data);
        self.push_leaf(
            Op::Constant,
            Value::Owned(Tensor { data: buf, shape }),
            false,
            None,
        )
    }

    /// Enters a parameter as a leaf, sharing its value with the store (no copy). Entering the
    /// same parameter twice returns the same node.
    pub fn param(&self, store: &ParamStore, id: ParamId) -> Var<'_> {
        let existing = {
            let inner = self.inner.borrow();
            inner.nodes.iter().position(|n| n.param == Some(id))
        };
        if let Some(node) = existing {
            return Var {
                id: node,
                tape: self,
            };
        }
        let rg = self.grad_enabled();
        self.push_leaf(Op::Param, Value::Shared(store.shared(id)), rg, Some(id))
    }

    /// Enters a parameter by name. Panics if there is none of that name.
    #[track_caller]
    pub fn param_named(&self, store: &ParamStore, name: &str) -> Var<'_> {
        let id = store
            .id(name)
            .unwrap_or_else(|| panic!("no parameter named {name:?}"));
        self.param(store, id)
    }

    fn push_leaf(&self, op: Op, value: Value, rg: bool, param: Option<ParamId>) -> Var<'_> {
        let mut inner = self.inner.borrow_mut();
        inner.nodes.push(Node {
            op,
            inputs: [0; 3],
            n_inputs: 0,
            value,
            requires_grad: rg,
            param,
        });
        Var {
            id: inner.nodes.len() - 1,
            tape: self,
        }
    }

    /// Records an op whose output value has been computed. Returns its handle.
    pub(crate) fn push(&self, op: Op, inputs: &[usize], value: Tensor) -> Var<'_> {
        let mut inner = self.inner.borrow_mut();
        let rg = inner.no_grad_depth == 0 && inputs.iter().any(|&i| inner.nodes[i].requires_grad);
        let (stored, n) = match op {
            Op::Concat { .. } => {
                let start = inner.extra.len();
                inner.extra.extend_from_slice(inputs);
                ([start, inner.extra.len(), 0], 0)
            }
            _ => {
                let mut s = [0; 3];
                s[..inputs.len()].copy_from_slice(inputs);
                (s, inputs.len() as u8)
            }
        };
        let id = inner.nodes.len();
        if inner.anomaly && inner.first_anomaly.is_none() && !value.all_finite() {
            let inputs = inputs.iter().map(|&i| inner.nodes[i].value.shape).collect();
            inner.first_anomaly = Some(Error::NonFinite {
                op: op.name(),
                node: id,
                shape: value.shape,
                what: "value",
                inputs,
            });
        }
        inner.nodes.push(Node {
            op,
            inputs: stored,
            n_inputs: n,
            value: Value::Owned(value),
            requires_grad: rg,
            param: None,
        });
        Var { id, tape: self }
    }

    /// A zero-filled buffer of `n` floats from the tape's pool.
    pub(crate) fn buffer(&self, n: usize) -> Vec<f32> {
        self.inner.borrow_mut().pool.take(n)
    }

    /// A buffer of `n` floats from the tape's pool with unspecified contents, for ops that
    /// overwrite every element (skips the zero-fill of [`Tape::buffer`]).
    pub(crate) fn buffer_dirty(&self, n: usize) -> Vec<f32> {
        self.inner.borrow_mut().pool.take_dirty(n)
    }

    /// Forgets every node, keeping their buffers for the next step.
    pub fn clear(&self) {
        let mut inner = self.inner.borrow_mut();
        let Inner { nodes, pool, .. } = &mut *inner;
        for node in nodes.drain(..) {
            if let Value::Owned(t) = node.value {
                pool.give(t.data);
            }
        }
        inner.extra.clear();
        inner.first_anomaly = None;
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.inner.borrow().nodes.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// False inside [`Tape::no_grad`].
    pub fn grad_enabled(&self) -> bool {
        self.inner.borrow().no_grad_depth == 0
    }

    /// Runs `f` in inference mode: ops compute values but record nothing to differentiate (every
    /// node built inside needs no gradient, so backward never visits them).
    pub fn no_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a Tape);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.inner.borrow_mut().no_grad_depth -= 1;
            }
        }
        self.inner.borrow_mut().no_grad_depth += 1;
        let _restore = Restore(self);
        f()
    }

    /// Anomaly mode: when on, every op's output and every gradient is checked for NaN and
    /// infinity, and the first offender is kept (see [`Tape::first_anomaly`]; backward returns it
    /// as an error from [`Tape::try_backward_into`]).
    pub fn set_anomaly_mode(&self, on: bool) {
        self.inner.borrow_mut().anomaly = on;
    }

    /// The first non-finite value found in anomaly mode since the last clear.
    pub fn first_anomaly(&self) -> Option<Error> {
        self.inner.borrow().first_anomaly.clone()
    }

    /// The value of node `id` (borrowed; do not build ops while holding it).
    pub(crate) fn value(&self, id: usize) -> Ref<'_, Tensor> {
        Ref::map(self.inner.borrow(), |i| &*i.nodes[id].value)
    }

    /// Backpropagates from the scalar `loss`: returns d loss / d node for every node that needs
    /// a gradient. Panics if `loss` has more than one element.
    #[track_caller]
    pub fn backward(&self, loss: Var<'_>) -> Gradients {
        let mut g = Gradients::new();
        self.backward_into(loss, &mut g);
        g
    }

    /// [`Tape::backward`] into a reused gradient store (no allocation in a steady state).
    #[track_caller]
    pub fn backward_into(&self, loss: Var<'_>, grads: &mut Gradients) {
        if let Err(e) = self.try_backward_into(loss, grads) {
            panic!("{e}");
        }
    }

    /// Backward that reports, instead of panicking, a non-finite gradient found in anomaly mode
    /// (or a non-finite value recorded during the forward pass).
    #[track_caller]
    pub fn try_backward_into(&self, loss: Var<'_>, grads: &mut Gradients) -> Result<(), Error> {
        assert!(
            std::ptr::eq(loss.tape, self),
            "backward: the loss belongs to another tape"
        );
        let inner = &mut *self.inner.borrow_mut();
        let root = &inner.nodes[loss.id];
        if root.value.numel() != 1 {
            return Err(Error::InvalidArgument {
                op: "backward",
                shape: root.value.shape,
                reason: "the loss must be a single number".into(),
                location: std::panic::Location::caller(),
            });
        }
        if let Some(e) = inner.first_anomaly.clone() {
            return Err(e);
        }
        grads.reset(inner.nodes.len(), inner.anomaly);
        for (id, node) in inner.nodes.iter().enumerate() {
            if let Some(p) = node.param {
                grads.params.push((p, id));
            }
        }
        if !root.requires_grad {
            return Ok(());
        }
        grads.acc(loss.id, root.value.shape)[0] = 1.0;
        for id in (0..=loss.id).rev() {
            let node = &inner.nodes[id];
            if !node.requires_grad {
                continue;
            }
            let Some(g) = grads.slots[id].take() else {
                continue;
            };
            if inner.anomaly && !g.all_finite() {
                let inputs = node
                    .inputs(&inner.extra)
                    .iter()
                    .map(|&i| inner.nodes[i].value.shape)
                    .collect();
                let e = Error::NonFinite {
                    op: node.op.name(),
                    node: id,
                    shape: g.shape,
                    what: "gradient",
                    inputs,
                };
                grads.slots[id] = Some(g);
                inner.first_anomaly = Some(e.clone());
                return Err(e);
            }
            crate::ops::backward(id, &inner.nodes, &inner.extra, &g.data, grads);
            grads.slots[id] = Some(g);
        }
        Ok(())
    }
}

impl<'t> Var<'t> {
    /// The node id on the tape.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The tape this node lives on.
    pub fn tape(&self) -> &'t Tape {
        self.tape
    }

    /// The shape of the value.
    pub fn shape(&self) -> Shape {
        self.tape.value(self.id).shape
    }

    /// The dimensions of the value.
    pub fn dims(&self) -> Vec<usize> {
        self.shape().dims().to_vec()
    }

    /// A copy of the value.
    pub fn value(&self) -> Tensor {
        self.tape.value(self.id).clone()
    }

    /// Reads the value without copying it. Do not build ops inside `f`.
    pub fn with_value<R>(&self, f: impl FnOnce(&Tensor) -> R) -> R {
        f(&self.tape.value(self.id))
    }

    /// The single value of a one-element node.
    #[track_caller]
    pub fn item(&self) -> f32 {
        self.tape.value(self.id).item()
    }

    /// Whether backward will compute a gradient for this node.
    pub fn requires_grad(&self) -> bool {
        self.tape.inner.borrow().nodes[self.id].requires_grad
    }

    /// The same value as a new node that needs no gradient: backward stops here.
    pub fn detach(self) -> Var<'t> {
        let v = {
            let mut inner = self.tape.inner.borrow_mut();
            let Inner { nodes, pool, .. } = &mut *inner;
            let src = &nodes[self.id].value;
            Tensor {
                data: pool.take_copy(&src.data),
                shape: src.shape,
            }
        };
        self.tape
            .push_leaf(Op::Constant, Value::Owned(v), false, None)
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Var(%{}, {:?})", self.id, *self.tape.value(self.id))
    }
}
