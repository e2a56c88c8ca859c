//! Realistic sensor signals: a slow daily-like wave, a faster ripple, noise, a little drift and
//! the occasional spike, so that charts and rollups have something worth looking at.

use std::f64::consts::TAU;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use watershed_domain::{Reading, SensorName, Unit, Value};

/// One sensor's signal shape.
#[derive(Debug, Clone)]
struct Shape {
    sensor: SensorName,
    unit: Unit,
    base: f64,
    amplitude: f64,
    period_s: f64,
    noise: f64,
    spike: f64,
    /// Change per hour (a draining battery).
    drift_per_h: f64,
    min: f64,
    max: f64,
}

/// The sensors of one simulated device and the random state that makes them noisy.
pub struct DeviceSignals {
    shapes: Vec<Shape>,
    phase: f64,
    rng: SmallRng,
    started: DateTime<Utc>,
}

/// Chance that a sample is a spike.
const SPIKE_PROBABILITY: f64 = 0.002;

/// `wave` is (base, amplitude, period in seconds).
fn shape(
    sensor: &str,
    unit: &str,
    wave: (f64, f64, f64),
    noise: f64,
    spike: f64,
    range: (f64, f64),
) -> Shape {
    let (base, amplitude, period_s) = wave;
    Shape {
        sensor: SensorName::parse(sensor).expect("simulator sensor names are valid"),
        unit: Unit::parse(unit).expect("simulator units are valid"),
        base,
        amplitude,
        period_s,
        noise,
        spike,
        drift_per_h: 0.0,
        min: range.0,
        max: range.1,
    }
}

impl DeviceSignals {
    /// Device `index` of the fleet: three or four sensors, its own phase and seed, so devices
    /// differ but a run is reproducible.
    pub fn new(index: usize, started: DateTime<Utc>) -> Self {
        let mut rng = SmallRng::seed_from_u64(0x5eed_0000 + index as u64);
        let mut shapes = vec![
            shape(
                "temperature",
                "C",
                (21.0 + rng.gen_range(-3.0..3.0), 4.0, 900.0),
                0.15,
                12.0,
                (-40.0, 85.0),
            ),
            shape(
                "humidity",
                "%",
                (45.0 + rng.gen_range(-10.0..10.0), 8.0, 1400.0),
                0.5,
                20.0,
                (0.0, 100.0),
            ),
            shape(
                "pressure",
                "hPa",
                (1013.0, 2.5, 3600.0),
                0.05,
                6.0,
                (950.0, 1060.0),
            ),
        ];
        if index.is_multiple_of(2) {
            let mut battery = shape(
                "battery",
                "%",
                (100.0 - rng.gen_range(0.0..30.0), 0.0, 1.0),
                0.02,
                0.0,
                (0.0, 100.0),
            );
            battery.drift_per_h = -0.5;
            shapes.push(battery);
        }
        Self {
            shapes,
            phase: rng.gen_range(0.0..TAU),
            rng,
            started,
        }
    }

    pub fn sensor_count(&self) -> usize {
        self.shapes.len()
    }

    /// One reading per sensor at `at`, appended to `out`.
    pub fn sample_into(&mut self, at: DateTime<Utc>, out: &mut Vec<Reading>) {
        let t = (at - self.started).num_milliseconds() as f64 / 1000.0;
        for s in &self.shapes {
            let wave = s.amplitude * (TAU * t / s.period_s + self.phase).sin()
                + 0.3 * s.amplitude * (TAU * t / (s.period_s / 7.0)).sin();
            let noise = s.noise * (self.rng.gen::<f64>() * 2.0 - 1.0);
            let spike = if self.rng.gen_bool(SPIKE_PROBABILITY) {
                s.spike
            } else {
                0.0
            };
            let value =
                (s.base + wave + noise + spike + s.drift_per_h * t / 3600.0).clamp(s.min, s.max);
            out.push(Reading {
                sensor: s.sensor.clone(),
                value: Value::try_from(value).expect("clamped signals are finite"),
                unit: Some(s.unit.clone()),
                measured_at: at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_stays_in_its_sensors_range_and_is_reproducible() {
        let start: DateTime<Utc> = "2026-11-23T00:00:00Z".parse().unwrap();
        let mut a = DeviceSignals::new(3, start);
        let mut b = DeviceSignals::new(3, start);
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        for i in 0..5000 {
            let at = start + chrono::Duration::seconds(i);
            a.sample_into(at, &mut ra);
            b.sample_into(at, &mut rb);
        }
        assert_eq!(ra, rb);
        let humidity: Vec<f64> = ra
            .iter()
            .filter(|r| r.sensor.as_str() == "humidity")
            .map(|r| r.value.get())
            .collect();
        assert!(humidity.iter().all(|v| (0.0..=100.0).contains(v)));
        let spread = humidity.iter().cloned().fold(f64::MIN, f64::max)
            - humidity.iter().cloned().fold(f64::MAX, f64::min);
        assert!(spread > 5.0, "the signal moves: spread {spread}");
    }

    #[test]
    fn devices_differ_in_sensors_and_values() {
        let start = Utc::now();
        assert_eq!(DeviceSignals::new(0, start).sensor_count(), 4);
        assert_eq!(DeviceSignals::new(1, start).sensor_count(), 3);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        DeviceSignals::new(1, start).sample_into(start, &mut a);
        DeviceSignals::new(3, start).sample_into(start, &mut b);
        assert_ne!(a[0].value, b[0].value);
    }
}
