//! Early stopping on a validation split held out of the training set (never the test set):
//! the last `n` training images are set aside, the negative ELBO on them is measured after every
//! epoch, the best model so far is kept, and training stops once `patience` epochs pass without
//! a better one.

use crate::data::ImageSet;
use crate::model::Vae;

/// Splits off the last `n` images of `set` as a validation set: `(train, validation)`.
pub fn split_validation(set: &ImageSet, n: usize) -> Result<(ImageSet, ImageSet), String> {
    if n == 0 || n >= set.len() {
        return Err(format!(
            "--validation {n} must be at least 1 and below the {} training images",
            set.len()
        ));
    }
    let cut = set.len() - n;
    let rest: Vec<usize> = (cut..set.len()).collect();
    let val = set.subset(&rest).map_err(|e| e.to_string())?;
    Ok((set.first(cut), val))
}

/// A copy of `model` with weights of its own (a `Vae`'s clone shares its parameter buffers,
/// which the optimizer must then not update in place).
fn deep_copy(model: &Vae) -> Vae {
    let mut copy = Vae::new(model.config.clone(), 0);
    let ids: Vec<_> = model.params.iter().map(|(id, _, _)| id).collect();
    for id in ids {
        copy.params
            .get_mut(id)
            .data
            .copy_from_slice(&model.params.get(id).data);
    }
    copy
}

/// What to do after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The validation loss improved: this is the best model so far.
    Improved,
    /// No improvement, patience left.
    Continue,
    /// `patience` epochs without improvement: stop.
    Stop,
}

/// The best model so far and how long ago it was.
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (`None`: never stop, only keep the best).
    pub patience: Option<usize>,
    /// Best validation loss so far.
    pub best_loss: f64,
    /// Its 1-based epoch (0 before the first).
    pub best_epoch: usize,
    /// The model at that epoch.
    pub best_model: Option<Vae>,
    /// Every epoch's validation loss, in order.
    pub curve: Vec<f64>,
}

impl EarlyStopping {
    /// Nothing seen yet.
    pub fn new(patience: Option<usize>) -> EarlyStopping {
        EarlyStopping {
            patience,
            best_loss: f64::INFINITY,
            best_epoch: 0,
            best_model: None,
            curve: Vec::new(),
        }
    }

    /// Records `loss` after the 1-based `epoch`, keeping a copy of `model` when it is the best.
    pub fn observe(&mut self, epoch: usize, loss: f64, model: &Vae) -> Verdict {
        self.curve.push(loss);
        if loss < self.best_loss {
            self.best_loss = loss;
            self.best_epoch = epoch;
            self.best_model = Some(deep_copy(model));
            return Verdict::Improved;
        }
        match self.patience {
            Some(p) if epoch >= self.best_epoch + p => Verdict::Stop,
            _ => Verdict::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VaeConfig;

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let model = Vae::new(
            VaeConfig {
                hidden: vec![2],
                input_dim: 4,
                ..VaeConfig::seed()
            },
            0,
        );
        let mut s = EarlyStopping::new(Some(2));
        let verdicts: Vec<Verdict> = [5.0, 4.0, 4.5, 3.9, 4.0, 3.95]
            .iter()
            .enumerate()
            .map(|(i, &l)| s.observe(i + 1, l, &model))
            .collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [Improved, Improved, Continue, Improved, Continue, Stop]
        );
        assert_eq!((s.best_epoch, s.best_loss), (4, 3.9));
        let best = s.best_model.as_ref().unwrap();
        assert_eq!(best.params.numel(), model.params.numel());
        // The copy has buffers of its own: the original can still be updated in place.
        let mut model = model;
        let id = model.params.iter().next().unwrap().0;
        model.params.get_mut(id).data[0] += 1.0;
        let mut never = EarlyStopping::new(None);
        for e in 1..10 {
            never.observe(e, e as f64, &model);
        }
        assert_eq!(never.best_epoch, 1);
    }

    #[test]
    fn the_split_takes_the_last_images() {
        let set = ImageSet {
            images: (0..10).collect(),
            n: 5,
            rows: 1,
            cols: 2,
            labels: Some(vec![0, 1, 2, 3, 4]),
        };
        let (t, v) = split_validation(&set, 2).unwrap();
        assert_eq!((t.len(), v.len()), (3, 2));
        assert_eq!(v.images, vec![6, 7, 8, 9]);
        assert_eq!(v.labels, Some(vec![3, 4]));
        assert!(split_validation(&set, 5).is_err());
        assert!(split_validation(&set, 0).is_err());
    }
}
