//! The task runner: one actor that owns every decision about record tasks. Publishes,
//! API calls and the clock's ticks are handled one at a time, in order, so a task
//! starting and a publish arriving at the same instant never yields two recordings or
//! none. The task table is written before memory changes.

use crate::error::{Error, ErrorCode, Result};
use crate::recording::launch::{StartAt, start_recorders};
use crate::registry::LiveStream;
use crate::server::Services;
use crate::stream_id::StreamId;
use crate::tasks::model::{self, State, Step, Task};
use crate::tasks::store;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How often the runner looks at the clock.
const TICK: std::time::Duration = std::time::Duration::from_millis(500);

/// A request to the runner.
enum Cmd {
    Publish,
    Create(Task, oneshot::Sender<Result<Task>>),
    Stop(String, oneshot::Sender<Result<(Task, Vec<tokio::task::JoinHandle<()>>)>>),
    Delete(String, oneshot::Sender<Result<Vec<tokio::task::JoinHandle<()>>>>),
    Event(Event, oneshot::Sender<Result<Task>>),
    Reload(oneshot::Sender<Result<()>>),
}

/// An event on a live stream: record from `pre_roll` before now to `post_roll` after
/// (seconds), as one clip per stream that later events extend up to `max_duration`.
#[derive(Clone, Debug)]
pub struct Event {
    /// The stream.
    pub stream: StreamId,
    /// Seconds before the event.
    pub pre_roll: i64,
    /// Seconds after the (last) event.
    pub post_roll: i64,
    /// Longest clip.
    pub max_duration: i64,
    /// Template of the clip's files (default 0: HLS).
    pub template_id: i64,
}

/// The handle the rest of the server talks to.
#[derive(Debug)]
pub struct TaskRunner {
    // Bounded; a full queue makes callers wait (API calls and publishes are rare).
    tx: mpsc::Sender<Cmd>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Cmd>>>,
}

impl Default for TaskRunner {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(256);
        TaskRunner { tx, rx: std::sync::Mutex::new(Some(rx)) }
    }
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cmd")
    }
}

fn gone() -> Error {
    Error::internal("the task runner has stopped")
}

impl TaskRunner {
    /// A stream started publishing: tasks whose window is open start now.
    pub fn publish(&self) {
        let _ = self.tx.try_send(Cmd::Publish);
    }

    /// Creates a task (validated by the caller) and starts it at once if due.
    pub async fn create(&self, t: Task) -> Result<Task> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Create(t, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Stops a task; returns it once its files are finished.
    pub async fn stop(&self, id: String) -> Result<Task> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Stop(id, tx)).await.map_err(|_| gone())?;
        let (task, recorders) = rx.await.map_err(|_| gone())??;
        for r in recorders {
            let _ = r.await;
        }
        Ok(task)
    }

    /// Records an event clip (or extends the open one); returns its task.
    pub async fn event(&self, e: Event) -> Result<Task> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Event(e, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Reads the tasks again (another node created, stopped, extended or ended some).
    pub async fn reload(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Reload(tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Deletes a task; one that has started is stopped first (its files are finished
    /// and kept before this returns).
    pub async fn delete(&self, id: String) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Delete(id, tx)).await.map_err(|_| gone())?;
        for r in rx.await.map_err(|_| gone())?? {
            let _ = r.await;
        }
        Ok(())
    }
}

struct Running {
    session_id: String,
    stop: CancellationToken,
    recorders: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn alive(&self) -> bool {
        self.recorders.iter().any(|r| !r.is_finished())
    }
}

struct Actor {
    svc: Arc<Services>,
    /// Tasks that may still record, with whether they recorded already.
    tasks: HashMap<String, (Task, bool)>,
    running: HashMap<String, Running>,
}

/// Runs the actor until shutdown. Tasks left `recording` by a crash wait for the next push.
pub async fn run(svc: Arc<Services>) {
    let Some(mut rx) = svc.record_tasks.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
    let mut actor = Actor { svc: svc.clone(), tasks: HashMap::new(), running: HashMap::new() };
    match store::live_tasks(&svc.db).await {
        Ok(list) => {
            for (mut t, recorded) in list {
                // A task another node records now is left as it is.
                if t.state == State::Recording && !actor.live_elsewhere(&t).await {
                    // Its recorders died with the last process (their files were
                    // finished by recording recovery); it resumes on the next push.
                    t.state = State::Waiting;
                    let _ = store::set_state(&svc.db, &t.task_id, State::Waiting, false, None).await;
                }
                actor.tasks.insert(t.task_id.clone(), (t, recorded));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "record tasks could not be loaded; scheduled tasks will not run")
        }
    }
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = svc.shutdown.cancelled() => return,
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Cmd::Publish) => {}
                Some(Cmd::Create(t, reply)) => { let _ = reply.send(actor.create(t).await); }
                Some(Cmd::Stop(id, reply)) => { let _ = reply.send(actor.stop(&id).await); }
                Some(Cmd::Delete(id, reply)) => { let _ = reply.send(actor.delete(&id).await); }
                Some(Cmd::Event(e, reply)) => { let _ = reply.send(actor.event(e).await); }
                Some(Cmd::Reload(reply)) => { let _ = reply.send(actor.reload().await); }
            },
            _ = tick.tick() => {}
        }
        actor.step_all().await;
    }
}

impl Actor {
    fn live_stream(&self, t: &Task) -> Option<Arc<LiveStream>> {
        let id = StreamId::new(&t.domain, &t.app, &t.stream).ok()?;
        self.svc.registry.get(&id)
    }

    /// Applies `model::step` to every task.
    async fn step_all(&mut self) {
        let now = self.svc.clock.now_unix();
        let ids: Vec<String> = self.tasks.keys().cloned().collect();
        for id in ids {
            let Some((t, recorded)) = self.tasks.get(&id).cloned() else { continue };
            let live = self.live_stream(&t);
            let running = match (self.running.get(&id), &live) {
                (Some(r), Some(l)) => r.alive() && r.session_id == l.session_id,
                _ => false,
            };
            match model::step(&t, now, live.is_some(), running, recorded) {
                Step::Keep => {}
                // The push moved to another node, which records the task now.
                Step::Wait if self.live_elsewhere(&t).await => {}
                Step::Start => {
                    if let Some(live) = live {
                        self.start(&t, &live, StartAt::Gop).await;
                    }
                }
                Step::Wait => self.set(&id, State::Waiting, None).await,
                Step::End(_) => match store::end(&self.svc.db, &id, now).await {
                    Ok(ended) => {
                        if let Some(r) = self.running.remove(&id) {
                            r.stop.cancel();
                        }
                        self.tasks.remove(&id);
                        if let Some(state) = ended {
                            crate::config_sync::changed(&self.svc.db).await;
                            tracing::info!(task_id = %id, state = state.as_str(), "record task ended");
                        } else if let Ok(t) = store::get(&self.svc.db, &id).await
                            && t.state.is_live()
                        {
                            // Another node extended it: it runs on.
                            self.tasks.insert(id.clone(), (t, recorded));
                        }
                    }
                    Err(e) => {
                        tracing::error!(task_id = %id, error = %e, "could not end a record task; tried again")
                    }
                },
            }
        }
    }

    /// Whether `t`'s stream is live on another node now (its lease).
    async fn live_elsewhere(&self, t: &Task) -> bool {
        let now_ms = self.svc.clock.now().0 / 90;
        match crate::leases::holder(&self.svc.db, &t.stream_id(), now_ms).await {
            Ok(Some((node, _))) => node != self.svc.node.name,
            Ok(None) => false,
            // Unknown: waiting is what a lost push does anyway; asked again next tick.
            Err(_) => true,
        }
    }

    /// Merges the database's tasks into memory: tasks made elsewhere are added, those
    /// ended, stopped or deleted elsewhere stop here, new ends are taken.
    async fn reload(&mut self) -> Result<()> {
        let list = store::live_tasks(&self.svc.db).await?;
        let ids: std::collections::HashSet<&str> = list.iter().map(|(t, _)| t.task_id.as_str()).collect();
        let gone: Vec<String> = self.tasks.keys().filter(|id| !ids.contains(id.as_str())).cloned().collect();
        for id in gone {
            self.tasks.remove(&id);
            if let Some(r) = self.running.remove(&id) {
                tracing::info!(task_id = %id, "record task ended on another node: its recording here stops");
                r.stop.cancel();
            }
        }
        for (t, recorded) in list {
            let mine = self.running.get(&t.task_id).is_some_and(Running::alive);
            match self.tasks.get_mut(&t.task_id) {
                Some((m, r)) => {
                    m.end_time = t.end_time;
                    if !mine {
                        m.state = t.state;
                    }
                    *r |= recorded;
                }
                None => {
                    self.tasks.insert(t.task_id.clone(), (t, recorded));
                }
            }
        }
        Ok(())
    }

    async fn set(&mut self, id: &str, state: State, stopped_at: Option<i64>) {
        let recorded = state == State::Recording;
        if let Err(e) = store::set_state(&self.svc.db, id, state, recorded, stopped_at).await {
            tracing::error!(task_id = %id, error = %e, "could not save a record task's state");
            return;
        }
        if let Some((t, r)) = self.tasks.get_mut(id) {
            t.state = state;
            *r |= recorded;
        }
    }

    /// Starts a task's recorders on `live`, from `from` in the pre-roll if given.
    async fn start(&mut self, t: &Task, live: &Arc<LiveStream>, from: StartAt) {
        if let Some(old) = self.running.remove(&t.task_id) {
            old.stop.cancel();
        }
        // A missing or deleted template records HLS kept forever, as the cloud service does.
        let template = self.svc.catalog.template(t.template_id).or_else(|| self.svc.catalog.template(0));
        let Some(template) = template else { return };
        self.set(&t.task_id, State::Recording, None).await;
        let stop = CancellationToken::new();
        let recorders =
            start_recorders(&self.svc, live, &template, &t.source, Some(&t.task_id), from, stop.clone());
        tracing::info!(task_id = %t.task_id, stream = %live.id, formats = recorders.len(), "record task recording");
        self.running
            .insert(t.task_id.clone(), Running { session_id: live.session_id.clone(), stop, recorders });
    }

    async fn event(&mut self, e: Event) -> Result<Task> {
        let Some(live) = self.svc.registry.get(&e.stream) else {
            return Err(Error::new(ErrorCode::StreamNotLive, format!("stream {} is not live", e.stream)));
        };
        let now = self.svc.clock.now_unix();
        // Task times are whole seconds: a clip's end rounds up, so it never ends early.
        let end_after = |secs: i64| (self.svc.clock.now().as_ms() + secs * 1000 + 999).div_euclid(1000);
        let sid = e.stream.to_string();
        // A clip already open on this stream grows instead (Azure's signal gate).
        let open = self.tasks.iter().find(|(id, (t, _))| {
            t.source == "event"
                && t.stream_id() == sid
                && t.open_at(now)
                && self.running.get(*id).is_some_and(Running::alive)
        });
        if let Some((id, (t, _))) = open {
            let (id, mut t) = (id.clone(), t.clone());
            let end = end_after(e.post_roll).min(t.max_end_time);
            if end > t.end_time {
                store::set_end(&self.svc.db, &id, end).await?;
                crate::config_sync::changed(&self.svc.db).await;
                t.end_time = end;
                if let Some((m, _)) = self.tasks.get_mut(&id) {
                    m.end_time = end;
                }
                tracing::info!(task_id = %id, end, "event clip extended");
            }
            return Ok(t);
        }
        let start = now - e.pre_roll;
        let t = Task {
            task_id: crate::timeline::locator::new_id(),
            domain: e.stream.domain.clone(),
            app: e.stream.app.clone(),
            stream: e.stream.stream.clone(),
            start_time: start,
            end_time: end_after(e.post_roll),
            template_id: e.template_id,
            stream_type: 0,
            extension: None,
            state: State::Scheduled,
            stopped_at: None,
            source: "event".into(),
            max_end_time: start + e.max_duration,
        };
        self.check_limit(&t)?;
        store::insert(&self.svc.db, &t, now).await?;
        crate::config_sync::changed(&self.svc.db).await;
        self.tasks.insert(t.task_id.clone(), (t.clone(), false));
        // The pre-roll comes from memory when it reaches back that far, else from the
        // stream's timeline when it has one, else the clip starts at the current GOP.
        let from = self.svc.clock.now() - rewind_media::Duration90k::from_secs(e.pre_roll);
        let start =
            if e.pre_roll > 0 && !live.hub.preroll_covers(from) && self.svc.timelines.get(&sid).is_some() {
                let frames = crate::timeline::preroll::frames_since(&self.svc, &live, from).await;
                if frames.is_empty() { StartAt::PreRoll(from) } else { StartAt::Backlog(frames) }
            } else {
                StartAt::PreRoll(from)
            };
        self.start(&t, &live, start).await;
        tracing::info!(task_id = %t.task_id, stream = %sid, pre_roll = e.pre_roll, post_roll = e.post_roll, "event clip recording");
        Ok(self.tasks.get(&t.task_id).map_or(t, |(t, _)| t.clone()))
    }

    fn check_limit(&self, t: &Task) -> Result<()> {
        let limit = self.svc.config.recording.max_running_tasks;
        let overlapping = self
            .tasks
            .values()
            .filter(|(o, _)| {
                o.stream_id() == t.stream_id() && o.start_time < t.end_time && t.start_time < o.end_time
            })
            .count();
        if overlapping >= limit {
            return Err(Error::new(
                ErrorCode::MaximumRunningTask,
                format!(
                    "stream {} already has {overlapping} tasks in that window; the most is {limit}",
                    t.stream_id()
                ),
            ));
        }
        Ok(())
    }

    async fn create(&mut self, t: Task) -> Result<Task> {
        let now = self.svc.clock.now_unix();
        self.check_limit(&t)?;
        store::insert(&self.svc.db, &t, now).await?;
        crate::config_sync::changed(&self.svc.db).await;
        tracing::info!(task_id = %t.task_id, stream = %t.stream_id(), start = t.start_time, end = t.end_time, "record task created");
        self.tasks.insert(t.task_id.clone(), (t.clone(), false));
        self.step_all().await;
        Ok(self.tasks.get(&t.task_id).map_or(t, |(t, _)| t.clone()))
    }

    async fn stop(&mut self, id: &str) -> Result<(Task, Vec<tokio::task::JoinHandle<()>>)> {
        let task = store::get(&self.svc.db, id).await?;
        if !task.state.is_live() {
            return Ok((task, Vec::new()));
        }
        let now = self.svc.clock.now_unix();
        self.set(id, State::Stopped, Some(now)).await;
        crate::config_sync::changed(&self.svc.db).await;
        self.tasks.remove(id);
        let recorders = match self.running.remove(id) {
            Some(r) => {
                r.stop.cancel();
                r.recorders
            }
            None => Vec::new(),
        };
        tracing::info!(task_id = %id, "record task stopped");
        Ok((store::get(&self.svc.db, id).await?, recorders))
    }

    /// Deletes a task. One that has started is first stopped, as on the cloud: its
    /// recording ends and its files stay; no later push of its window is recorded.
    async fn delete(&mut self, id: &str) -> Result<Vec<tokio::task::JoinHandle<()>>> {
        let task = store::get(&self.svc.db, id).await?;
        let recorders = if task.state.is_live() { self.stop(id).await?.1 } else { Vec::new() };
        store::delete(&self.svc.db, id).await?;
        crate::config_sync::changed(&self.svc.db).await;
        self.tasks.remove(id);
        tracing::info!(task_id = %id, started = task.state != State::Scheduled, "record task deleted");
        Ok(recorders)
    }
}
