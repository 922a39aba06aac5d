//! The bare reference server of `benches/load.sh`: axum on the same runtime flexroute uses,
//! answering every request with one constant JSON body (flexroute's own answer, read from a
//! file, so both send the same bytes) and nothing else — no routing table, no cache, no
//! middleware. flexroute's requests/s divided by this one's is the benchmark's ratio.
//!
//! `cargo run --release --example bare_server -- 127.0.0.1:18081 body.json`

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use bytes::Bytes;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18081".into());
    let body = match args.next() {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => Bytes::from_static(br#"{"site":"bare"}"#),
    };
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("bare server on {listen}");
    axum::serve(listener, app).await
}
