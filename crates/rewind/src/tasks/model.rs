//! Record tasks (SPEC §5): the model, its states and the validation of R-K1. Pure: every
//! function is given `now` (Unix seconds).

use crate::error::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Its window has not opened, or it is open and the stream has not been live in it.
    Scheduled,
    /// Recording a push now.
    Recording,
    /// Its window is open and it recorded before; waiting for the next push.
    Waiting,
    /// Stopped through the API; never restarts.
    Stopped,
    /// Its window passed after recording something.
    Finished,
    /// Its window passed without a push: no file.
    Expired,
}

impl State {
    /// The state's name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Recording => "recording",
            State::Waiting => "waiting",
            State::Stopped => "stopped",
            State::Finished => "finished",
            State::Expired => "expired",
        }
    }

    /// Parses `as_str`'s output.
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "scheduled" => State::Scheduled,
            "recording" => State::Recording,
            "waiting" => State::Waiting,
            "stopped" => State::Stopped,
            "finished" => State::Finished,
            "expired" => State::Expired,
            _ => return None,
        })
    }

    /// Still able to record (its window may be open).
    pub fn is_live(self) -> bool {
        matches!(self, State::Scheduled | State::Recording | State::Waiting)
    }
}

/// A record task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Its id.
    pub task_id: String,
    /// Stream domain.
    pub domain: String,
    /// Stream app.
    pub app: String,
    /// Stream name.
    pub stream: String,
    /// Window start, Unix seconds.
    pub start_time: i64,
    /// Window end (exclusive), Unix seconds.
    pub end_time: i64,
    /// Template its files use.
    pub template_id: i64,
    /// 0: a push; 1: a mix made elsewhere (recorded like any stream, R-K8).
    pub stream_type: i64,
    /// Caller's data, returned as given.
    pub extension: Option<String>,
    /// Where it stands.
    pub state: State,
    /// When it was stopped through the API.
    pub stopped_at: Option<i64>,
    /// `task` (API) or `event` (an event clip with pre-roll).
    pub source: String,
    /// An event clip is never extended past this (its start + `max_duration`).
    #[serde(skip)]
    pub max_end_time: i64,
}

impl Task {
    /// `domain/app/stream`.
    pub fn stream_id(&self) -> String {
        format!("{}/{}/{}", self.domain, self.app, self.stream)
    }

    /// Its window holds `now`.
    pub fn open_at(&self, now: i64) -> bool {
        self.start_time <= now && now < self.end_time
    }
}

/// Longest task window.
pub const MAX_SPAN_SECS: i64 = 24 * 3600;
/// Furthest a task may end from now.
pub const MAX_AHEAD_SECS: i64 = 7 * 24 * 3600;

fn invalid(m: String) -> Error {
    Error::new(ErrorCode::InvalidParameter, m)
}

/// Checks a new task's window (R-K1); `start_time` None means now (a highlight).
/// Returns the window.
pub fn check_window(start_time: Option<i64>, end_time: i64, now: i64) -> Result<(i64, i64)> {
    let start = start_time.unwrap_or(now);
    if end_time <= now {
        return Err(invalid(format!("end_time {end_time} must be after now ({now})")));
    }
    if end_time <= start {
        return Err(invalid(format!("end_time {end_time} must be after start_time {start}")));
    }
    if end_time >= now + MAX_AHEAD_SECS {
        return Err(invalid(format!(
            "end_time must be less than 7 days from now ({} at most)",
            now + MAX_AHEAD_SECS - 1
        )));
    }
    if end_time - start > MAX_SPAN_SECS {
        return Err(invalid(format!(
            "end_time - start_time is {} s; the most is 86400 (24 h)",
            end_time - start
        )));
    }
    Ok((start, end_time))
}

/// What should happen to a task at `now`, given whether its stream is live and whether
/// its recorders run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Keep,
    /// Start recording the live push.
    Start,
    /// The window closed: stop any recorders and end in this state.
    End(State),
    /// The push ended inside the window: wait for the next.
    Wait,
}

/// The one decision function of the scheduler: pure, so time can be moved in tests.
pub fn step(t: &Task, now: i64, stream_live: bool, running: bool, recorded: bool) -> Step {
    if !t.state.is_live() {
        return Step::Keep;
    }
    if now >= t.end_time {
        return Step::End(if recorded { State::Finished } else { State::Expired });
    }
    if now < t.start_time {
        return Step::Keep;
    }
    match (stream_live, running) {
        (true, false) => Step::Start,
        (false, false) if t.state == State::Recording => Step::Wait,
        _ => Step::Keep,
    }
}

/// Checks an event's parameters (seconds): pre-roll at most 60, a post-roll, and a
/// longest clip that holds both and stays within a task's 24 h.
pub fn check_event(pre_roll: i64, post_roll: i64, max_duration: i64) -> Result<()> {
    if !(0..=60).contains(&pre_roll) {
        return Err(invalid(format!("pre_roll must be 0 to 60 seconds, not {pre_roll}")));
    }
    if !(1..=MAX_SPAN_SECS).contains(&post_roll) {
        return Err(invalid(format!("post_roll must be 1 to 86400 seconds, not {post_roll}")));
    }
    if max_duration < pre_roll + post_roll || max_duration > MAX_SPAN_SECS {
        return Err(invalid(format!(
            "max_duration must hold pre_roll + post_roll ({}) and be at most 86400 seconds, not {max_duration}",
            pre_roll + post_roll
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(start: i64, end: i64, state: State) -> Task {
        Task {
            task_id: "t".into(),
            domain: "d".into(),
            app: "a".into(),
            stream: "s".into(),
            start_time: start,
            end_time: end,
            template_id: 0,
            stream_type: 0,
            extension: None,
            state,
            stopped_at: None,
            source: "task".into(),
            max_end_time: end,
        }
    }

    #[test]
    fn windows_follow_r_k1() {
        let now = 1_000_000;
        assert_eq!(check_window(Some(now + 10), now + 20, now).unwrap(), (now + 10, now + 20));
        assert_eq!(check_window(None, now + 20, now).unwrap(), (now, now + 20), "a highlight starts now");
        assert!(check_window(None, now, now).unwrap_err().message.contains("after now"));
        assert!(
            check_window(Some(now + 30), now + 20, now).unwrap_err().message.contains("after start_time")
        );
        assert!(
            check_window(Some(now + 6 * 86400), now + 7 * 86400, now).unwrap_err().message.contains("7 days")
        );
        assert!(check_window(Some(now), now + 86400 + 1, now).unwrap_err().message.contains("24 h"));
        assert!(
            check_window(Some(now - 100), now + 86400 - 100, now).is_ok(),
            "a window already open is fine"
        );
    }

    #[test]
    fn the_scheduler_decides_by_time_and_liveness() {
        let t = task(100, 200, State::Scheduled);
        assert_eq!(step(&t, 50, true, false, false), Step::Keep, "before the window");
        assert_eq!(step(&t, 100, true, false, false), Step::Start, "the window opens on a live stream");
        assert_eq!(step(&t, 150, false, false, false), Step::Keep, "no push yet: keep waiting");
        let r = task(100, 200, State::Recording);
        assert_eq!(step(&r, 150, true, true, true), Step::Keep);
        assert_eq!(step(&r, 150, false, false, true), Step::Wait, "the push dropped");
        assert_eq!(step(&task(100, 200, State::Waiting), 160, true, false, true), Step::Start, "a new push");
        assert_eq!(step(&r, 200, true, true, true), Step::End(State::Finished));
        assert_eq!(step(&t, 200, false, false, false), Step::End(State::Expired), "no push, no file");
        assert_eq!(
            step(&task(100, 200, State::Stopped), 150, true, false, true),
            Step::Keep,
            "never restarts"
        );
    }

    #[test]
    fn event_parameters() {
        assert!(check_event(5, 2, 30).is_ok());
        assert!(check_event(61, 2, 100).unwrap_err().message.contains("pre_roll"));
        assert!(check_event(5, 0, 30).unwrap_err().message.contains("post_roll"));
        assert!(check_event(5, 2, 6).unwrap_err().message.contains("max_duration"));
    }
}
