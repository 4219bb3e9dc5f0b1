//! Prints the tape of one VAE training step (the seed model, batch 32): every node with its op,
//! inputs, shape and bytes, then the totals, and writes the graph as Graphviz DOT.
//!
//!     cargo run --release --example vae_tape
//!     dot -Tpng target/vae_tape.dot -o docs/vae_tape.png

use autograd::{Tape, Tensor};
use vae::model::{Vae, VaeConfig, loss};

fn main() -> std::io::Result<()> {
    let batch = 32;
    let model = Vae::new(VaeConfig::seed(), 0);
    let tape = Tape::new();
    let x = tape.constant(Tensor::rand_uniform(&[batch, 784], 0.0, 1.0, 1));
    let eps = tape.constant(Tensor::randn(&[batch, 2], 0.0, 1.0, 2));
    let f = model.forward(&tape, x, eps);
    let l = loss(&f, x, 1.0);
    println!(
        "== The tape of one training step: model {}, batch {batch} ==",
        model.config
    );
    println!(
        "(the last two nodes are the reported means of the two loss parts; backward never visits them)\n"
    );
    print!("{}", tape.render(Some(&model.params)));
    let grads = tape.backward(l.total);
    println!(
        "\n{} nodes, {:.2} MB of values on the tape (parameters shared with the store, not copied)",
        tape.len(),
        tape.bytes() as f64 / 1e6
    );
    println!(
        "loss {:.3} = reconstruction {:.3} + KL {:.3}",
        l.total.item(),
        l.recon.item(),
        l.kl.item()
    );
    for (id, name, t) in model.params.iter() {
        let g = grads.param(id).expect("every parameter reaches the loss");
        let norm = g.data.iter().map(|v| v * v).sum::<f32>().sqrt();
        println!(
            "  d loss / d {name:<22} {:>12}  |g| = {norm:.4}",
            format!("{}", t.shape)
        );
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vae_tape.dot");
    std::fs::create_dir_all(path.parent().expect("parent"))?;
    std::fs::write(&path, tape.to_dot_named(Some(&model.params)))?;
    println!(
        "\nwrote {} (render: dot -Tpng {} -o vae_tape.png)",
        path.display(),
        path.display()
    );
    Ok(())
}
