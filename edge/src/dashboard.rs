//! The live dashboard, compiled into the binary: no build step, no CDN, no framework.
//!
//! Served at `/` on every edge unless `--no-dashboard`. The page connects back to the same edge
//! over WebSocket (falling back to SSE) like any other client.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/dashboard.js");
const STYLE: &str = include_str!("../dashboard/dashboard.css");

/// Routes of the dashboard's files.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
            }),
        )
        .route(
            "/dashboard.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    SCRIPT,
                )
                    .into_response()
            }),
        )
        .route(
            "/dashboard.css",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
            }),
        )
}

#[cfg(test)]
mod tests {
    use adic_protocol::Kind;

    /// The dashboard carries its own copy of the kind table (it runs in the browser); it must be
    /// the protocol's, kind for kind, and so must its list of snapshot kinds.
    #[test]
    fn the_dashboard_kind_table_is_the_catalog() {
        let start = super::SCRIPT
            .find("const KINDS = [")
            .expect("the KINDS table");
        let end = start + super::SCRIPT[start..].find("];").expect("its end");
        let table: Vec<(String, String, String)> = super::SCRIPT[start..end]
            .split('[')
            .skip(2)
            .map(|row| {
                let fields: Vec<String> = row
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect();
                (fields[0].clone(), fields[1].clone(), fields[2].clone())
            })
            .collect();
        let catalog: Vec<(String, String, String)> = Kind::all()
            .map(|k| {
                (
                    k.variant().to_owned(),
                    k.name().to_owned(),
                    k.priority().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(table, catalog);

        let start = super::SCRIPT
            .find("const SNAPSHOT_KINDS = new Set([")
            .expect("SNAPSHOT_KINDS");
        let end = start + super::SCRIPT[start..].find("]);").expect("its end");
        let mut snapshots: Vec<&str> = super::SCRIPT[start..end]
            .split('\'')
            .skip(1)
            .step_by(2)
            .collect();
        snapshots.sort_unstable();
        let mut want: Vec<&str> = Kind::all()
            .filter(|k| k.is_snapshot())
            .map(Kind::name)
            .collect();
        want.sort_unstable();
        assert_eq!(snapshots, want);
    }
}
