//! A tour of the tape: one logistic-regression step on four points.
//!
//! Builds the graph, prints the tape (one line per node), the gradients, checks them against
//! finite differences with `autograd::check`, and writes the graph as Graphviz DOT.
//!
//!     cargo run --release --example tape_tour
//!     dot -Tpng target/tape_tour.dot -o tape_tour.png   # if Graphviz is installed

use autograd::check::check_gradients;
use autograd::{Optimizer, ParamStore, Sgd, Tape, Tensor, Var};

/// The model: p(y = 1 | x) = σ(x wᵀ + b); the loss is the mean binary cross-entropy.
fn loss<'t>(x: Var<'t>, w: Var<'t>, b: Var<'t>, y: Var<'t>) -> Var<'t> {
    x.linear(w, b).bce_with_logits(y).mean()
}

fn main() -> std::io::Result<()> {
    let x = Tensor::from_vec(vec![0.5, 1.0, -1.0, 2.0, 1.5, -0.5, -2.0, -1.0], &[4, 2]);
    let y = Tensor::from_vec(vec![1.0, 0.0, 1.0, 0.0], &[4, 1]);

    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::from_vec(vec![0.1, -0.2], &[1, 2]));
    let b = store.add("b", Tensor::zeros(&[1]));

    let tape = Tape::new();
    let xv = tape.constant(x.clone());
    let yv = tape.constant(y.clone());
    let l = loss(xv, tape.param(&store, w), tape.param(&store, b), yv);

    println!("== The tape: one node per op, in creation (= topological) order ==");
    print!("{tape}");
    println!("loss = {:.6}", l.item());

    let grads = tape.backward(l);
    println!("\n== Gradients (stored by node id) ==");
    println!("dL/dw = {:?}", grads.param(w).expect("w reaches the loss"));
    println!("dL/db = {:?}", grads.param(b).expect("b reaches the loss"));

    println!("\n== Finite-difference check ==");
    let report = check_gradients(
        |tape, v| {
            let xv = tape.constant(x.clone());
            let yv = tape.constant(y.clone());
            loss(xv, v[0], v[1], yv)
        },
        &[store.get(w).clone(), store.get(b).clone()],
        1e-2,
    );
    println!("{report}");
    assert!(report.passes(1e-2), "gradient check failed");

    let dot = tape.to_dot();
    tape.clear();
    let mut opt = Sgd::new(0.5, 0.0);
    opt.step(&mut store, &grads);
    println!("\n== After one SGD step (lr 0.5) ==");
    println!("w = {:?}, b = {:?}", store.get(w), store.get(b));

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tape_tour.dot");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, &dot)?;
    println!(
        "\n== The graph in DOT (also written to {}) ==",
        path.display()
    );
    print!("{dot}");
    Ok(())
}
