//! Graph shapes that trip engines, no-grad mode, detach, shape errors, printing.

use autograd::{ParamStore, Tape, Tensor, Var};

fn t(v: &[f32], d: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), d)
}

#[test]
fn node_used_twice() {
    let tape = Tape::new();
    let x = tape.var(t(&[3.0], &[1]));
    let y = x * x; // dy/dx = 2x = 6
    let g = tape.backward(y.sum());
    assert_eq!(g.wrt(x).data, vec![6.0]);
}

#[test]
fn diamond() {
    // a -> b = 2a, c = a², d = b * c = 2a³: dd/da = 6a² = 24 at a = 2.
    let tape = Tape::new();
    let a = tape.var(t(&[2.0], &[1]));
    let b = a * 2.0;
    let c = a.square();
    let d = (b * c).sum();
    assert_eq!(d.item(), 16.0);
    assert_eq!(tape.backward(d).wrt(a).data, vec![24.0]);
}

#[test]
fn constants_need_no_gradient() {
    let tape = Tape::new();
    let x = tape.var(t(&[1.0, 2.0], &[2]));
    let k = tape.constant(t(&[5.0, 7.0], &[2]));
    let y = (x * k).sum();
    let g = tape.backward(y);
    assert!(!k.requires_grad());
    assert!(g.get(k).is_none(), "a constant got a gradient");
    assert_eq!(g.wrt(x).data, vec![5.0, 7.0]);
}

#[test]
fn unused_parameter_has_zero_gradient() {
    let mut store = ParamStore::new();
    let w = store.add("w", t(&[1.0, 2.0], &[2]));
    let unused = store.add("unused", t(&[1.0, 1.0, 1.0], &[3]));
    let tape = Tape::new();
    let wv = tape.param(&store, w);
    let uv = tape.param(&store, unused);
    let g = tape.backward((wv * 3.0).sum());
    assert_eq!(g.param(w).unwrap().data, vec![3.0, 3.0]);
    assert!(g.param(unused).is_none());
    assert_eq!(g.wrt(uv).data, vec![0.0, 0.0, 0.0]);
}

#[test]
fn no_grad_records_nothing_to_differentiate() {
    let tape = Tape::new();
    let x = tape.var(t(&[1.0, 2.0], &[2]));
    let y = tape.no_grad(|| (x * x).sum());
    assert!(!y.requires_grad());
    assert_eq!(y.item(), 5.0);
    assert!(tape.grad_enabled());
    let z = (x * 2.0).sum();
    assert!(z.requires_grad());
}

#[test]
fn detach_stops_the_gradient() {
    let tape = Tape::new();
    let x = tape.var(t(&[3.0], &[1]));
    let y = (x.detach() * x).sum(); // treated as c * x with c = 3
    assert_eq!(tape.backward(y).wrt(x).data, vec![3.0]);
}

#[test]
fn shape_errors_name_op_shapes_and_caller() {
    let tape = Tape::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[4, 5]));
    let e = a.try_add(b).unwrap_err().to_string();
    assert!(
        e.contains("add") && e.contains("[2, 3]") && e.contains("[4, 5]"),
        "{e}"
    );
    assert!(e.contains("graph.rs"), "no caller location in: {e}");
    let e = a.try_matmul_t(b, false, false).unwrap_err().to_string();
    assert!(
        e.starts_with("matmul") && e.contains("[2, 3]") && e.contains("[4, 5]"),
        "{e}"
    );
    let e = a.try_reshape(&[7]).unwrap_err().to_string();
    assert!(e.contains("reshape") && e.contains("[2, 3]"), "{e}");
    let e = Var::try_concat(&[a, b], 0).unwrap_err().to_string();
    assert!(e.contains("concat"), "{e}");
}

#[test]
#[should_panic(expected = "mul: incompatible shapes [2, 3] and [3, 2]")]
fn operator_panics_with_the_error_text() {
    let tape = Tape::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[3, 2]));
    let _ = a * b;
}

#[test]
fn display_and_dot() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let w = tape.var(Tensor::zeros(&[3, 1]));
    let y = x.matmul(w).sigmoid().sum();
    let text = tape.to_string();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(
        text.contains("%2") && text.contains("matmul(%0, %1)") && text.contains("[2, 1]"),
        "{text}"
    );
    let dot = tape.to_dot();
    assert!(
        dot.starts_with("digraph") && dot.contains("n2 -> n3") && dot.trim_end().ends_with('}')
    );
    let _ = y;
}

#[test]
fn anomaly_mode_names_the_first_offender() {
    let tape = Tape::new();
    tape.set_anomaly_mode(true);
    let x = tape.var(t(&[-1.0, 4.0], &[2]));
    let y = x.sqrt(); // NaN at -1
    let z = (y * 2.0).sum();
    let e = tape.first_anomaly().expect("anomaly not found").to_string();
    assert!(e.contains("sqrt") && e.contains("%1"), "{e}");
    let mut g = autograd::Gradients::new();
    assert!(tape.try_backward_into(z, &mut g).is_err());
}

#[test]
fn anomaly_mode_catches_a_non_finite_gradient() {
    let tape = Tape::new();
    tape.set_anomaly_mode(true);
    let x = tape.var(t(&[0.0, 4.0], &[2]));
    let y = x.sqrt().sum(); // value finite, gradient 1/(2*0) = inf
    let mut g = autograd::Gradients::new();
    let e = tape.try_backward_into(y, &mut g).unwrap_err().to_string();
    assert!(e.contains("gradient"), "{e}");
}

#[test]
fn clear_reuses_buffers_and_results_repeat() {
    let tape = Tape::new();
    let mut first = None;
    for _ in 0..3 {
        let x = tape.var(t(&[1.0, 2.0, 3.0], &[3]));
        let y = (x.exp() * x).sum();
        let g = tape.backward(y).wrt(x).data;
        if let Some(f) = &first {
            assert_eq!(f, &g);
        }
        first = Some(g);
        tape.clear();
        assert!(tape.is_empty());
    }
}
