//! The HTTP API under `/v1`. Routes are thin: parse, authorise, call a service, map the error.
//! Every route is registered through utoipa-axum, so the OpenAPI document is built from the
//! same code that serves and cannot drift.

mod admin;
mod auth;
mod broadcast;
mod classroom;
mod contract;
mod devices;
pub mod extract;
mod health;
mod homework;
mod lessons;
mod live;
mod notices;
mod notification_settings;
mod push_policy;
mod replays;
mod sync;
mod test_clock;
mod uploads;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, Request},
    middleware,
    routing::get,
};
use lianxiao_protocol::{MAX_JSON_BODY_BYTES, MAX_ROSTER_BODY_BYTES};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Lianxiao API", description = "Reference server of Lianxiao (联校): linked schools, notices with receipts, sync."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in, tokens, the caller"),
        (name = "notices", description = "School notices and receipts (回执)"),
        (name = "devices", description = "Phones registered for push notifications"),
        (name = "homework", description = "Homework (同步作业): assign, hand in, grade, sign off"),
        (name = "lessons", description = "Timetable (排课) and live lessons"),
        (name = "replays", description = "Replays (异步点播): review (学校审核), playback, watch positions"),
        (name = "uploads", description = "Resumable uploads (tus 1.0)"),
        (name = "sync", description = "Incremental sync and realtime events"),
        (name = "admin", description = "Roster import, signing a person out everywhere"),
        (name = "meta", description = "Health and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The routes and their OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let roster = OpenApiRouter::new()
        .routes(routes!(admin::import_roster))
        .layer(DefaultBodyLimit::max(MAX_ROSTER_BODY_BYTES));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(admin::sign_out_everywhere))
        .routes(routes!(notices::list, notices::post))
        .routes(routes!(notices::get, notices::retract))
        .routes(routes!(notices::read))
        .routes(routes!(notices::ack))
        .routes(routes!(notices::receipts))
        .routes(routes!(notices::remind))
        .routes(routes!(push_policy::get, push_policy::put))
        .routes(routes!(push_policy::allowance))
        .routes(routes!(devices::notice_pushes))
        .routes(routes!(devices::register, devices::unregister))
        .routes(routes!(
            notification_settings::get,
            notification_settings::put
        ))
        .routes(routes!(notification_settings::unreachable))
        .routes(routes!(devices::received))
        .routes(routes!(homework::list, homework::assign))
        .routes(routes!(homework::get, homework::edit, homework::delete))
        .routes(routes!(homework::report))
        .routes(routes!(homework::remind))
        .routes(routes!(homework::submissions, homework::submit))
        .routes(routes!(homework::get_submission))
        .routes(routes!(homework::grade))
        .routes(routes!(homework::return_work))
        .routes(routes!(homework::sign_off))
        .routes(routes!(homework::download))
        .routes(routes!(lessons::list, lessons::schedule))
        .routes(routes!(lessons::get))
        .routes(routes!(lessons::move_lesson))
        .routes(routes!(lessons::cancel))
        .routes(routes!(live::join))
        .routes(routes!(live::stage))
        .routes(routes!(live::attendance))
        .routes(routes!(live::heartbeat))
        .routes(routes!(live::webhook))
        .routes(routes!(classroom::room))
        .routes(routes!(classroom::hand))
        .routes(routes!(classroom::chat))
        .routes(routes!(classroom::delete_message))
        .routes(routes!(classroom::mute))
        .routes(routes!(classroom::quizzes, classroom::open_quiz))
        .routes(routes!(classroom::answer_quiz))
        .routes(routes!(classroom::close_quiz))
        .routes(routes!(broadcast::ingest))
        .routes(routes!(broadcast::master))
        .routes(routes!(broadcast::media))
        .routes(routes!(replays::list, replays::create))
        .routes(routes!(replays::get))
        .routes(routes!(replays::review))
        .routes(routes!(replays::play))
        .routes(routes!(replays::watch))
        .routes(routes!(replays::views))
        .routes(routes!(replays::master))
        .routes(routes!(replays::media))
        .routes(routes!(sync::sync))
        .routes(routes!(sync::events))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .merge(roster)
        .merge(uploads::routes())
        .split_for_parts()
}

/// The whole application with its middleware.
pub fn router(state: AppState) -> Router {
    let (routes, mut doc) = api();
    contract::add_common_responses(&mut doc);
    let query_bounds = contract::QueryBounds::from_doc(&doc);
    doc.paths.add_path_operation(
        "/v1/openapi.json",
        vec![utoipa::openapi::HttpMethod::Get],
        utoipa::openapi::path::OperationBuilder::new()
            .tag("meta")
            .summary(Some("This OpenAPI document"))
            .response(
                "200",
                utoipa::openapi::ResponseBuilder::new()
                    .description("OpenAPI 3 document")
                    .build(),
            )
            .build(),
    );
    let doc = Arc::new(doc);
    // Only a server started with LIANXIAO_TEST_CLOCK=1 has the route at all.
    let routes = if state.clock().is_settable() {
        routes.route("/v1/test/clock", get(test_clock::get).put(test_clock::set))
    } else {
        routes
    };
    let request_id = HeaderName::from_static("x-request-id");
    routes
        .route("/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .layer(middleware::from_fn_with_state(query_bounds, contract::query_bounds))
        .layer(middleware::from_fn(extract::checked_uri))
        .layer(middleware::from_fn(extract::typed_limits))
        .layer(middleware::from_fn(extract::server_time))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // Paths hold ids only; query strings may hold tokens, so they are left out.
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
