//! A callback receiver for the tests: a real local HTTP server that keeps every POST.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What the receiving application saw.
#[derive(Default)]
pub struct Inbox {
    /// Every POST, duplicates included.
    pub raw: Mutex<Vec<Value>>,
    /// Events by id: what an application de-duplicating on `event_id` keeps.
    pub by_id: Mutex<BTreeMap<String, Value>>,
    /// Answer 500 to everything.
    pub refuse: AtomicBool,
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: String) -> StatusCode {
    if inbox.refuse.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let v: Value = serde_json::from_str(&body).expect("callback bodies are JSON");
    let id = v["event_id"].as_str().expect("event_id").to_string();
    assert_eq!(headers.get("x-rewind-event-id").and_then(|h| h.to_str().ok()), Some(id.as_str()));
    inbox.raw.lock().unwrap().push(v.clone());
    inbox.by_id.lock().unwrap().entry(id).or_insert(v);
    StatusCode::OK
}

/// Serves the receiver on `listener` until the test ends.
pub fn serve(listener: std::net::TcpListener, inbox: Arc<Inbox>) {
    listener.set_nonblocking(true).unwrap();
    let l = tokio::net::TcpListener::from_std(listener).unwrap();
    let app = axum::Router::new().route("/cb", axum::routing::post(receive)).with_state(inbox);
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
