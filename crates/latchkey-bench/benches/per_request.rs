//! The whole per-request credential check, per strategy: what
//! `AuthService::authenticate` costs for a live credential of a signed-in
//! user (SQLite store, warm caches), from the client its session is bound
//! to, so the binding check is included; and the same without a client
//! context, which skips that check, so its cost is measured in the same run.
//! `authenticate-recorded` is the first group again with a Prometheus
//! recorder in place, as in the `latchkey` binary, so what the per-request
//! metrics cost is measured too (without one every metric is a no-op).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_core::strategy::Strategy;

fn per_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    for (group_name, with_client, recorded) in [
        ("authenticate", true, false),
        ("authenticate-without-binding", false, false),
        ("authenticate-recorded", true, true),
    ] {
        // Thread-local, and the runtime is single-threaded: every metric of
        // this group (and only of this group) reaches the recorder.
        let _recording = recorded.then(|| metrics::set_default_local_recorder(&recorder));
        let mut group = c.benchmark_group(group_name);
        for strategy in Strategy::ALL {
            let fixture = rt.block_on(latchkey_bench::fixture(strategy));
            let context = with_client.then_some(&fixture.context);
            group.bench_function(strategy.as_str(), |b| {
                b.to_async(&rt).iter(|| async {
                    fixture
                        .auth
                        .authenticate(black_box(&fixture.credential), context)
                        .await
                        .expect("authenticated")
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, per_request);
criterion_main!(benches);
