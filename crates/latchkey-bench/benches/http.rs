//! The whole HTTP stack in process, without sockets: `/healthz` (the
//! floor: every middleware, no authentication) against `/auth/verify` with
//! a bearer token and `/auth/me`, per strategy. The difference is what
//! authentication costs a request, free of the kernel's and the network's
//! noise (`bench/run.sh` measures the same over real sockets).

use std::{
    hint::black_box,
    net::{Ipv4Addr, SocketAddr},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, header},
};
use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_core::strategy::Strategy;
use latchkey_http::{AppState, HttpConfig};
use tower::ServiceExt;

/// The allocator the `latchkey` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("http");
    for strategy in Strategy::ALL {
        let fixture = rt.block_on(latchkey_bench::fixture(strategy));
        let app = latchkey_http::app(AppState::new(
            fixture.auth.clone(),
            HttpConfig::default(),
            None,
        ));
        let agent = fixture.context.user_agent.clone().expect("agent");
        let peer = SocketAddr::from((Ipv4Addr::new(203, 0, 113, 7), 40000));
        let request = |path: &str, auth: bool| {
            let mut req = Request::get(path).header(header::USER_AGENT, &agent);
            if auth {
                req = req.header(
                    header::AUTHORIZATION,
                    format!("Bearer {}", fixture.credential),
                );
            }
            let mut req = req.body(Body::empty()).expect("request");
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        };
        for (name, path, auth) in [
            ("healthz", "/healthz", false),
            ("verify", "/auth/verify", true),
            ("me", "/auth/me", true),
        ] {
            if name == "healthz" && strategy != Strategy::Session {
                continue; // The same for every strategy.
            }
            let label = format!("{name}/{strategy}");
            group.bench_function(label, |b| {
                b.to_async(&rt).iter(|| async {
                    let response = app
                        .clone()
                        .oneshot(black_box(request(path, auth)))
                        .await
                        .expect("response");
                    assert!(response.status().is_success());
                    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                        .await
                        .expect("body");
                    black_box(body)
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, http);
criterion_main!(benches);
