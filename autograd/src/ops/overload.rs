//! Operator overloading, so a loss reads like math: `a + b`, `a * 2.0`, `1.0 - a`, `-a`.
//! Tensor–tensor operators broadcast and panic on a shape mismatch with the error's text
//! (use `try_add` and friends for a `Result`).

use super::Op;
use crate::Var;
use std::ops::{Add, Div, Mul, Neg, Sub};
use std::panic::Location;

macro_rules! var_var {
    ($trait:ident, $method:ident, $op:expr) => {
        impl<'t> $trait<Var<'t>> for Var<'t> {
            type Output = Var<'t>;
            #[track_caller]
            fn $method(self, rhs: Var<'t>) -> Var<'t> {
                self.binary(rhs, $op, Location::caller())
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        }
    };
}

var_var!(Add, add, Op::Add);
var_var!(Sub, sub, Op::Sub);
var_var!(Mul, mul, Op::Mul);
var_var!(Div, div, Op::Div);

impl<'t> Add<f32> for Var<'t> {
    type Output = Var<'t>;
    fn add(self, c: f32) -> Var<'t> {
        self.add_scalar(c)
    }
}

impl<'t> Sub<f32> for Var<'t> {
    type Output = Var<'t>;
    fn sub(self, c: f32) -> Var<'t> {
        self.add_scalar(-c)
    }
}

impl<'t> Mul<f32> for Var<'t> {
    type Output = Var<'t>;
    fn mul(self, c: f32) -> Var<'t> {
        self.mul_scalar(c)
    }
}

impl<'t> Div<f32> for Var<'t> {
    type Output = Var<'t>;
    fn div(self, c: f32) -> Var<'t> {
        self.mul_scalar(1.0 / c)
    }
}

impl<'t> Add<Var<'t>> for f32 {
    type Output = Var<'t>;
    fn add(self, v: Var<'t>) -> Var<'t> {
        v.add_scalar(self)
    }
}

impl<'t> Sub<Var<'t>> for f32 {
    type Output = Var<'t>;
    /// `c - v` as `(-v) + c`: a derived op with no backward of its own.
    fn sub(self, v: Var<'t>) -> Var<'t> {
        (-v).add_scalar(self)
    }
}

impl<'t> Mul<Var<'t>> for f32 {
    type Output = Var<'t>;
    fn mul(self, v: Var<'t>) -> Var<'t> {
        v.mul_scalar(self)
    }
}

impl<'t> Div<Var<'t>> for f32 {
    type Output = Var<'t>;
    fn div(self, v: Var<'t>) -> Var<'t> {
        v.rdiv_scalar(self)
    }
}

impl<'t> Neg for Var<'t> {
    type Output = Var<'t>;
    /// `y = -x`;  `dx = -g`.
    fn neg(self) -> Var<'t> {
        self.unary(super::UnaryOp::Neg)
    }
}
