//! Record tasks (SPEC §5): recordings that an API call schedules or starts, beside the
//! rule-based ones. `model` (states, validation, the scheduling decision), `store` (the
//! task table, the truth), `runner` (the one actor that starts and stops them).

pub mod model;
pub mod runner;
pub mod store;
