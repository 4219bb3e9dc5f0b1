//! Initialisers: a seed gives the same weights every time, within each scheme's bounds and scale.

use autograd::{Init, Initializer};

#[test]
fn same_seed_same_weights() {
    for init in [Init::GlorotUniform, Init::HeNormal, Init::TorchDefault] {
        let a = Initializer::new(7).weight(init, 64, 100);
        let b = Initializer::new(7).weight(init, 64, 100);
        let c = Initializer::new(8).weight(init, 64, 100);
        assert_eq!(a, b, "{init:?}");
        assert_ne!(a, c, "{init:?}");
        assert_eq!(a.dims(), &[64, 100]);
    }
}

#[test]
fn bounds_and_scales() {
    let (fan_out, fan_in) = (200, 300);
    let glorot = Initializer::new(1).weight(Init::GlorotUniform, fan_out, fan_in);
    let a = (6.0f32 / (fan_in + fan_out) as f32).sqrt();
    assert!(glorot.data.iter().all(|x| x.abs() <= a));
    let torch = Initializer::new(1).weight(Init::TorchDefault, fan_out, fan_in);
    let a = (1.0f32 / fan_in as f32).sqrt();
    assert!(torch.data.iter().all(|x| x.abs() <= a));
    let he = Initializer::new(1).weight(Init::HeNormal, fan_out, fan_in);
    let var = he.data.iter().map(|x| x * x).sum::<f32>() / he.numel() as f32;
    let want = 2.0 / fan_in as f32;
    assert!(
        (var - want).abs() < 0.05 * want,
        "He variance {var}, want {want}"
    );
    assert!(
        Initializer::new(1)
            .weight(Init::Zeros, 3, 4)
            .data
            .iter()
            .all(|&x| x == 0.0)
    );
    // Biases: zeros, except PyTorch's default which draws them like its weights.
    assert!(
        Initializer::new(1)
            .bias(Init::GlorotUniform, 5, 9)
            .data
            .iter()
            .all(|&x| x == 0.0)
    );
    let b = Initializer::new(1).bias(Init::TorchDefault, 50, 9);
    assert!(b.data.iter().all(|x| x.abs() <= 1.0 / 3.0) && b.data.iter().any(|&x| x != 0.0));
}
