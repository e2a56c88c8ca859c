//! Serves the built dashboard (`web/dist`). Unknown paths answer with the API's JSON 404.

use std::path::Path;

use axum::handler::HandlerWithoutStateExt;
use axum::Router;
use tower_http::services::ServeDir;

pub fn router(web_dir: &Path) -> Router {
    if !web_dir.join("index.html").exists() {
        tracing::warn!(
            dir = %web_dir.display(),
            "the dashboard is not built here; run `npm --prefix web ci && npm --prefix web run build`"
        );
    }
    let files = ServeDir::new(web_dir)
        .append_index_html_on_directories(true)
        .not_found_service(watershed_http_edge::error::not_found.into_service());
    Router::new().fallback_service(files)
}
