//! Measures how long one password check takes for each hash kind at its default cost — the
//! numbers quoted in docs/security.md. Run with
//! `cargo run --release -p culex-passwd --example hash_costs`.

use std::time::{Duration, Instant};

use mqtt_core::auth::HashAlgorithm;

fn main() {
    let cases = [
        ("$6$ sha512", HashAlgorithm::Sha512),
        ("$7$ sha512-pbkdf2, 101 iterations (Mosquitto 2.0)", HashAlgorithm::MOSQUITTO_2_0),
        ("$7$ sha512-pbkdf2, 1000 iterations", HashAlgorithm::Sha512Pbkdf2 { iterations: 1_000 }),
        (
            "$7$ sha512-pbkdf2, 210000 iterations",
            HashAlgorithm::Sha512Pbkdf2 { iterations: 210_000 },
        ),
        ("$argon2id$ m=47104,t=1,p=1 (culex default)", HashAlgorithm::DEFAULT),
    ];
    for (name, algorithm) in cases {
        let salt = vec![0x5a; algorithm.salt_len()];
        let Ok(hash) = algorithm.hash(b"correct horse", &salt) else {
            eprintln!("{name}: cannot hash");
            continue;
        };
        // Five batches of at least 100 ms each; the fastest one is the least disturbed by
        // whatever else the machine is doing.
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            let mut runs = 0_u32;
            while runs == 0 || start.elapsed() < Duration::from_millis(100) {
                std::hint::black_box(hash.verify(std::hint::black_box(b"wrong guess")));
                runs += 1;
            }
            best = best.min(start.elapsed() / runs);
        }
        println!("{name:<50} {best:>12.3?} per check (fastest of 5 batches)");
    }
}
