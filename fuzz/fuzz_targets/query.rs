//! A request's query string, extracted as the router does (`Query<HashMap<String, String>>`),
//! then read as SSE, WebSocket and polling requests read it: the filter (`events`,
//! `priority`), the cursors (`since`, `last_event_id`, `after`), the booleans (`snapshot`,
//! `heartbeat`) and the polling parameters (`limit`, `wait`). Every refusal has a message.
#![no_main]

use std::collections::HashMap;

use adic_edge::transport::{bool_param, cursor_param, poll, subscription_from_query};
use axum::extract::Query;
use axum::http::Uri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = format!("/v1/events?{query}").parse::<Uri>() else {
        return;
    };
    let Ok(Query(query)) = Query::<HashMap<String, String>>::try_from_uri(&uri) else {
        return;
    };
    match subscription_from_query(&query) {
        Ok(subscription) => {
            let _ = subscription.mask();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let param = |name: &str| query.get(name).map(String::as_str);
    for name in ["since", "last_event_id", "after"] {
        if let Err(e) = cursor_param(name, param(name)) {
            assert!(e.starts_with(name));
        }
    }
    for name in ["snapshot", "heartbeat"] {
        if let Err(e) = bool_param(name, param(name), false) {
            assert!(e.starts_with(name));
        }
    }
    if let Err(e) = poll::check_params(&query) {
        assert!(!e.is_empty());
    }
});
