//! What a training run records: one row per epoch, written to `metrics.csv`, and kept in the
//! checkpoint so a resumed run's files cover the whole run.

use crate::checkpoint::write_atomic;
use crate::train::{Losses, TrainConfig};
use std::path::Path;

/// The header of `metrics.csv`.
pub const METRICS_HEADER: &str =
    "epoch,train_loss,train_recon,train_kl,test_loss,test_recon,test_kl,seconds,images_per_s";

/// One epoch's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training losses over the epoch.
    pub train: Losses,
    /// Test losses after the epoch, when it was evaluated (`--eval-every`).
    pub test: Option<Losses>,
    /// Training time of the epoch, without evaluation.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_s: f64,
}

impl EpochRecord {
    /// The CSV row (the test fields empty for an epoch that was not evaluated).
    pub fn csv_row(&self) -> String {
        let test = match self.test {
            Some(t) => format!("{:.6},{:.6},{:.6}", t.loss, t.recon, t.kl),
            None => ",,".to_string(),
        };
        format!(
            "{},{:.6},{:.6},{:.6},{test},{:.4},{:.1}",
            self.epoch,
            self.train.loss,
            self.train.recon,
            self.train.kl,
            self.seconds,
            self.images_per_s
        )
    }

    /// The one-line summary printed after each epoch.
    pub fn line(&self, epochs: usize) -> String {
        let test = match self.test {
            Some(t) => format!("  test {:.2} (rec {:.2}, kl {:.2})", t.loss, t.recon, t.kl),
            None => String::new(),
        };
        format!(
            "epoch {:>3}/{epochs}  train {:.2} (rec {:.2}, kl {:.2}){test}  {:.2} s  {:.0} img/s",
            self.epoch,
            self.train.loss,
            self.train.recon,
            self.train.kl,
            self.seconds,
            self.images_per_s
        )
    }

    /// As JSON (kept in checkpoints; `null` test losses for an epoch not evaluated).
    pub fn to_json(&self) -> serde_json::Value {
        let t = |f: fn(&Losses) -> f64| self.test.as_ref().map(f);
        serde_json::json!([
            self.epoch,
            self.train.loss,
            self.train.recon,
            self.train.kl,
            t(|l| l.loss),
            t(|l| l.recon),
            t(|l| l.kl),
            self.seconds,
            self.images_per_s
        ])
    }

    /// Reads [`EpochRecord::to_json`] back.
    pub fn from_json(v: &serde_json::Value) -> Option<EpochRecord> {
        let a = v.as_array()?;
        let f = |i: usize| a.get(i).and_then(|x| x.as_f64());
        Some(EpochRecord {
            epoch: f(0)? as usize,
            train: Losses {
                loss: f(1)?,
                recon: f(2)?,
                kl: f(3)?,
            },
            test: match a.get(4) {
                Some(serde_json::Value::Null) => None,
                _ => Some(Losses {
                    loss: f(4)?,
                    recon: f(5)?,
                    kl: f(6)?,
                }),
            },
            seconds: f(7)?,
            images_per_s: f(8)?,
        })
    }
}

/// What a training run keeps in its checkpoint's `extra` metadata: the recipe, the history,
/// the image shape, and the digit left out of training (`null` for none), so that a resumed
/// run can refuse to continue a held-out model on all digits.
pub fn checkpoint_extra(
    train: &TrainConfig,
    history: &[EpochRecord],
    image_shape: (usize, usize),
    exclude_digit: Option<u8>,
) -> serde_json::Value {
    serde_json::json!({
        "train": train.to_json(),
        "history": history.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        "image_rows": image_shape.0,
        "image_cols": image_shape.1,
        "exclude_digit": exclude_digit,
    })
}

/// Writes `metrics.csv` (all rows so far) atomically.
pub fn write_metrics(path: &Path, records: &[EpochRecord]) -> std::io::Result<()> {
    let mut s = String::from(METRICS_HEADER);
    s.push('\n');
    for r in records {
        s.push_str(&r.csv_row());
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())
}

/// This process's resident memory in MB, from `/proc/self/status` (Linux; `None` elsewhere).
pub fn resident_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(test: Option<Losses>) -> EpochRecord {
        EpochRecord {
            epoch: 7,
            train: Losses {
                loss: 101.5,
                recon: 90.25,
                kl: 11.25,
            },
            test,
            seconds: 1.5,
            images_per_s: 40000.0,
        }
    }

    #[test]
    fn records_with_and_without_test_losses_round_trip() {
        let t = Losses {
            loss: 99.0,
            recon: 88.5,
            kl: 10.5,
        };
        for r in [record(Some(t)), record(None)] {
            assert_eq!(EpochRecord::from_json(&r.to_json()), Some(r));
            let fields = r.csv_row().split(',').count();
            assert_eq!(fields, METRICS_HEADER.split(',').count());
        }
        assert_eq!(
            record(None).csv_row(),
            "7,101.500000,90.250000,11.250000,,,,1.5000,40000.0"
        );
        assert!(!record(None).line(10).contains("test"));
        assert!(
            record(Some(t))
                .line(10)
                .contains("test 99.00 (rec 88.50, kl 10.50)")
        );
        // A history written before test losses could be left out still reads.
        let old = serde_json::json!([3, 1.0, 0.5, 0.5, 2.0, 1.5, 0.5, 1.0, 10.0]);
        assert_eq!(
            EpochRecord::from_json(&old)
                .and_then(|r| r.test)
                .map(|t| t.loss),
            Some(2.0)
        );
    }
}
