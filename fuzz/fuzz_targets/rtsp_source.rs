//! A source's declaration (`POST /v1/sources` bodies, `[[sources]]`): any bytes as
//! JSON, checked; a checked camera URL never shows its password and round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rewind::sources::spec::{CameraUrl, Source, SourceSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<SourceSpec>(data) else { return };
    let Ok(s) = Source::check(&spec, "default") else { return };
    let again = CameraUrl::parse(&s.url.full()).expect("a checked URL parses again");
    assert_eq!(again, s.url);
    let shown = CameraUrl::parse(&s.url.masked()).expect("the masked URL parses");
    assert_eq!(shown.password.is_some(), s.url.password.is_some());
    if s.url.password.is_some() {
        assert_eq!(shown.password.as_deref(), Some("***"));
    }
    assert!(shown.dial == s.url.dial && shown.user == s.url.user);
});
