//! Each role target serves its own routes and nothing else's: the query API hosts the dashboard
//! (as one App Service would), the command API does not; a projectors process answers only health.

use std::future::pending;

use watershed::app::{App, AppConfig, Roles};
use watershed_tests::harness::{ADMIN_TOKEN, READ_TOKEN};

/// One role on embedded storage in `dir`, with a dashboard in `dir/web`; its base URL.
async fn serve(dir: &tempfile::TempDir, roles: Roles) -> String {
    let web = dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<title>Watershed dashboard</title>").unwrap();
    let mut config = AppConfig::ephemeral(dir.path(), ADMIN_TOKEN, READ_TOKEN);
    config.roles = roles;
    config.web_dir = web;
    let app = App::build(config).await.expect("the role starts");
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run_until_stopped(pending()));
    base
}

async fn status_of(http: &reqwest::Client, method: reqwest::Method, url: String) -> u16 {
    http.request(method, url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn each_role_serves_its_own_routes_only() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    let query = serve(
        &dir,
        Roles {
            query_api: true,
            ..Roles::NONE
        },
    )
    .await;
    let page = http.get(format!("{query}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Watershed dashboard"));
    assert_eq!(
        status_of(&http, Method::GET, format!("{query}/v1/devices")).await,
        200
    );
    assert_eq!(
        status_of(&http, Method::POST, format!("{query}/v1/devices")).await,
        405
    );

    let command = serve(
        &dir,
        Roles {
            command_api: true,
            ..Roles::NONE
        },
    )
    .await;
    assert_eq!(
        status_of(&http, Method::GET, format!("{command}/")).await,
        404
    );
    assert_eq!(
        status_of(&http, Method::GET, format!("{command}/v1/devices")).await,
        405
    );
    assert_eq!(
        status_of(&http, Method::GET, format!("{command}/openapi.json")).await,
        200
    );

    let projectors = serve(
        &dir,
        Roles {
            projectors: true,
            ..Roles::NONE
        },
    )
    .await;
    assert_eq!(
        status_of(&http, Method::GET, format!("{projectors}/readyz")).await,
        200
    );
    assert_eq!(
        status_of(&http, Method::GET, format!("{projectors}/v1/devices")).await,
        404
    );
    assert_eq!(
        status_of(&http, Method::GET, format!("{projectors}/openapi.json")).await,
        404
    );

    // Every role exposes its metrics, without a token, in a format Prometheus reads.
    for base in [&query, &command, &projectors] {
        let scrape = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(scrape.status(), 200);
        let text = scrape.text().await.unwrap();
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())));
        assert!(parsed.is_ok(), "{base}/metrics parses: {text}");
    }
}
