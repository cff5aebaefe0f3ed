//! Token issue and verify, per signing algorithm.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_core::{
    keys::{KeyAlgorithm, SigningKey},
    token::{Claims, KeyRing},
};
use time::{Duration, OffsetDateTime};

fn claims(now: OffsetDateTime) -> Claims {
    Claims {
        iss: "latchkey".into(),
        aud: "latchkey".into(),
        sub: "0b5c4d9e-2a41-4d55-9a7e-6d1b0f7c9a11".into(),
        sid: "7f3e1c2b-9d84-4b6a-8e5f-3c2d1a0b9e87".into(),
        name: "alice".into(),
        iat: now.unix_timestamp(),
        nbf: now.unix_timestamp(),
        exp: (now + Duration::minutes(5)).unix_timestamp(),
        jti: "q1w2e3r4t5y6u7i8o9p0aa".into(),
        csrf: Some("3q2-7wXyZ_abcdefghijklmnopqrstuvwxyz012345".into()),
        generation: 0,
        ua: Some("Firefox/120;Linux".into()),
        net: Some("203.0.113.0/24".into()),
    }
}

fn tokens(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    for algorithm in [
        KeyAlgorithm::EdDsa,
        KeyAlgorithm::Es256,
        KeyAlgorithm::Hs256,
    ] {
        let key = SigningKey::generate(algorithm, now).expect("key");
        let ring = KeyRing::new(&[key], now, Duration::minutes(5)).expect("ring");
        let claims = claims(now);
        let token = ring.sign(&claims).expect("sign");
        let mut group = c.benchmark_group(format!("token/{algorithm}"));
        group.bench_function("issue", |b| b.iter(|| ring.sign(black_box(&claims))));
        group.bench_function("verify", |b| b.iter(|| ring.verify(black_box(&token))));
        group.finish();
    }
}

criterion_group!(benches, tokens);
criterion_main!(benches);
