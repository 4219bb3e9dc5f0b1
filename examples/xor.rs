//! Fits XOR with a 2-8-1 MLP using the engine alone: parameters in a store, a tape per step,
//! backward, Adam. The micrograd-sized demo.
//!
//!     cargo run --release --example xor

use autograd::{Adam, Gradients, Init, Initializer, Optimizer, ParamStore, Tape, Tensor};

fn main() {
    let x = Tensor::from_vec(vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2]);
    let y = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0], &[4, 1]);

    let mut init = Initializer::new(3);
    let mut store = ParamStore::new();
    let w1 = store.add("w1", init.weight(Init::GlorotUniform, 8, 2));
    let b1 = store.add("b1", Tensor::zeros(&[8]));
    let w2 = store.add("w2", init.weight(Init::GlorotUniform, 1, 8));
    let b2 = store.add("b2", Tensor::zeros(&[1]));

    let mut opt = Adam::new(0.05);
    let tape = Tape::new();
    let mut grads = Gradients::new();
    for step in 0..=500 {
        let xv = tape.constant(x.clone());
        let yv = tape.constant(y.clone());
        let h = xv
            .linear(tape.param(&store, w1), tape.param(&store, b1))
            .tanh();
        let logits = h.linear(tape.param(&store, w2), tape.param(&store, b2));
        let loss = logits.bce_with_logits(yv).mean();
        if step % 100 == 0 {
            println!("step {step:>3}  loss {:.5}", loss.item());
        }
        tape.backward_into(loss, &mut grads);
        tape.clear(); // release the parameters before the optimizer writes them
        opt.step(&mut store, &grads);
    }

    let xv = tape.constant(x.clone());
    let p = tape.no_grad(|| {
        let h = xv
            .linear(tape.param(&store, w1), tape.param(&store, b1))
            .tanh();
        h.linear(tape.param(&store, w2), tape.param(&store, b2))
            .sigmoid()
            .value()
    });
    println!("\n x1 x2 | p(y=1)  target");
    for i in 0..4 {
        println!(
            "  {}  {} | {:.3}   {}",
            x.data[2 * i],
            x.data[2 * i + 1],
            p.data[i],
            y.data[i]
        );
        assert!((p.data[i] - y.data[i]).abs() < 0.1, "XOR not learned");
    }
}
