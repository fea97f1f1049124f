//! The learning-rate schedule: linear warmup, then a cosine decay to zero, as Hugging Face's
//! `get_cosine_schedule_with_warmup` (one half-cosine, `num_cycles = 0.5`).

/// Multiplier of the base learning rates for optimizer step `step` (0-based) of `total`, the
/// first `warmup` of them warming up: `step / warmup` during warmup, then
/// `0.5 (1 + cos(pi progress))` with `progress = (step - warmup) / (total - warmup)`.
pub fn lr_factor(step: usize, total: usize, warmup: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(step: usize, total: usize, warmup: usize, expected: f64) {
        let got = lr_factor(step, total, warmup);
        assert!(
            (got - expected).abs() < 1e-12,
            "lr_factor({step}, {total}, {warmup}) = {got}, expected {expected}"
        );
    }

    #[test]
    fn warmup_then_cosine() {
        // Warmup: linear from 0.
        check(0, 100, 4, 0.0);
        check(1, 100, 4, 0.25);
        check(3, 100, 4, 0.75);
        // Warmup end: the full rate.
        check(4, 100, 4, 1.0);
        // Half way through the decay: one half.
        check(52, 100, 4, 0.5);
        // A quarter: (1 + cos(pi/4)) / 2.
        check(28, 100, 4, 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2));
        // The end: zero.
        check(100, 100, 4, 0.0);
        assert!(lr_factor(99, 100, 3) < 0.01);
    }

    #[test]
    fn no_warmup_and_degenerate_lengths() {
        check(0, 10, 0, 1.0);
        check(5, 10, 0, 0.5);
        // A schedule no longer than its warmup stays defined.
        check(3, 3, 3, 1.0);
        check(0, 0, 0, 1.0);
    }
}
