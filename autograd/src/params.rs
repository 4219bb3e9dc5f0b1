//! The parameter store: named tensors that live outside the tape and enter each step as leaves.

use crate::Tensor;
use std::rc::Rc;

/// Index of a parameter in a [`ParamStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub usize);

/// Named parameters, in insertion order.
///
/// Values are reference-counted so that entering a parameter on a tape
/// ([`Tape::param`](crate::Tape::param)) costs no copy; an optimizer may update them only once
/// the tape that held them has been cleared.
#[derive(Default, Clone)]
pub struct ParamStore {
    names: Vec<String>,
    values: Vec<Rc<Tensor>>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> ParamStore {
        ParamStore::default()
    }

    /// Adds a parameter. Panics if the name is taken.
    #[track_caller]
    pub fn add(&mut self, name: &str, value: Tensor) -> ParamId {
        assert!(
            self.id(name).is_none(),
            "ParamStore::add: a parameter named {name:?} exists already"
        );
        self.names.push(name.to_string());
        self.values.push(Rc::new(value));
        ParamId(self.values.len() - 1)
    }

    /// The id of the parameter called `name`.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.names.iter().position(|n| n == name).map(ParamId)
    }

    /// The value of a parameter.
    pub fn get(&self, id: ParamId) -> &Tensor {
        &self.values[id.0]
    }

    /// The value of a parameter, for writing. Panics if a tape still holds it (clear the tape
    /// first: a recorded graph must not see its leaves change under it).
    #[track_caller]
    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor {
        let name = &self.names[id.0];
        Rc::get_mut(&mut self.values[id.0]).unwrap_or_else(|| {
            panic!("parameter {name:?} is still held by a tape: call tape.clear() before updating")
        })
    }

    /// The name of a parameter.
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.0]
    }

    /// Number of parameters (tensors, not scalars).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the store holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Total number of scalars over all parameters.
    pub fn numel(&self) -> usize {
        self.values.iter().map(|t| t.numel()).sum()
    }

    /// `(id, name, value)` for every parameter, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &str, &Tensor)> {
        self.names
            .iter()
            .zip(&self.values)
            .enumerate()
            .map(|(i, (n, v))| (ParamId(i), n.as_str(), &**v))
    }

    pub(crate) fn shared(&self, id: ParamId) -> Rc<Tensor> {
        Rc::clone(&self.values[id.0])
    }
}
