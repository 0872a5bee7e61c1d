//! Cost of the codec per message, side by side: encoding a broadcast once and sharing the
//! bytes versus encoding it again for every recipient, and decoding a frame.
//!
//! `cargo bench -p shared --bench codec`; numbers in docs/BENCHMARKS.md.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared::{ChatKind, ClientCodec, ServerMsg, encode_frame};
use tokio_util::codec::Decoder;

fn chat(size: usize) -> ServerMsg {
    ServerMsg::Chat {
        id: 1_000_000,
        time_ms: 1_764_000_000_000,
        room: "lobby".into(),
        from: "someone".into(),
        kind: ChatKind::Say,
        text: "x".repeat(size),
    }
}

fn bench(c: &mut Criterion) {
    let msg = chat(100);
    let frame = encode_frame(&msg).unwrap();
    let mut g = c.benchmark_group("broadcast to 100 recipients, 100-byte text");
    g.throughput(Throughput::Elements(100));
    g.bench_function("encode once, clone the bytes", |b| {
        b.iter(|| {
            let f = encode_frame(black_box(&msg)).unwrap();
            for _ in 0..100 {
                black_box(f.clone());
            }
        })
    });
    g.bench_function("encode per recipient", |b| {
        b.iter(|| {
            for _ in 0..100 {
                black_box(encode_frame(black_box(&msg)).unwrap());
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode one frame");
    g.throughput(Throughput::Elements(1));
    g.bench_function("chat, 100-byte text", |b| {
        let mut codec = ClientCodec::default();
        b.iter(|| {
            let mut buf = BytesMut::from(&frame[..]);
            black_box(codec.decode(&mut buf).unwrap().unwrap())
        })
    });
    g.finish();

    // As a connection reads: many frames arrive in one buffer and are decoded in turn.
    let mut g = c.benchmark_group("decode frames read together");
    const FRAMES: usize = 64;
    g.throughput(Throughput::Elements(FRAMES as u64));
    let stream = frame.repeat(FRAMES);
    g.bench_function("64 chat frames, 100-byte text", |b| {
        let mut codec = ClientCodec::default();
        let mut buf = BytesMut::with_capacity(stream.len());
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(&stream);
            while let Some(msg) = codec.decode(&mut buf).unwrap() {
                black_box(msg);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
