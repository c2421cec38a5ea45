//! Frame render time (issue 7, item 6): the whole console drawn into ratatui's `TestBackend`
//! with 10,000 chats in the list and a 5,000-message thread open, at 80×24, 160×48 and 240×64.
//! Target: < 5 ms per frame. Run: `cargo bench -p admin-tui --bench render`.

use admin_tui::bench::Scene;
use criterion::{criterion_group, criterion_main, Criterion};

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    for (w, h) in [(80u16, 24u16), (160, 48), (240, 64)] {
        for (chats, messages) in [
            (10_000usize, 5_000usize),
            (10_000, 100),
            (100, 5_000),
            (100, 100),
        ] {
            let mut scene = Scene::new(chats, messages, w, h);
            group.bench_function(format!("{chats}_chats_{messages}_msgs_{w}x{h}"), |b| {
                b.iter(|| scene.draw())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
