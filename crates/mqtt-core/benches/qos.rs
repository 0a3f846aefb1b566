//! Criterion benchmark of the core's per-message cost in the scenarios `culex-bench` measures
//! end to end: fan-in 16→1 and 16 pairs, QoS 1 and QoS 0, 64-byte payloads, acknowledgements
//! included. Run with `cargo bench -p mqtt-core --bench qos`; for instruction counts, run the
//! bench binary under `valgrind --tool=callgrind --toggle-collect='*Workload*step*'` and divide
//! by the calls of `step`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mqtt_codec::QoS;

mod workload;

use workload::{Shape, Workload};

fn bench(c: &mut Criterion) {
    #[expect(clippy::disallowed_methods, reason = "the benchmark's one fixed instant")]
    let now = Instant::now();
    let mut group = c.benchmark_group("per_message");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("fanin_16_to_1_qos1", Shape::FanIn, QoS::AtLeastOnce),
        ("pairs_16_qos1", Shape::Pairs, QoS::AtLeastOnce),
        ("pairs_16_qos0", Shape::Pairs, QoS::AtMostOnce),
    ];
    for (name, shape, qos) in cases {
        let mut workload = Workload::new(shape, qos, now);
        group.bench_function(name, |b| b.iter(|| black_box(workload.step())));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
