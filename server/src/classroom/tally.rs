//! The live quiz tally for the teachers, at most about one event per second per quiz: a
//! class answering at once is one update, not forty.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use lianxiao_protocol::RoomEvent;
use tokio::time::Instant;

use super::{Notices, publish, quiz};
use crate::app::AppState;

const EVERY: Duration = Duration::from_secs(1);

/// When each quiz's tally was last sent, or is due to be sent (this process's answers).
#[derive(Default)]
pub struct Tallies(Mutex<HashMap<String, Instant>>);

impl Tallies {
    /// An answer to `quiz_id` was committed: send the tally now, or once a second has
    /// passed since the last one (a send already due will read the new answer too).
    pub fn answered(&self, state: &AppState, quiz_id: &str) {
        let now = Instant::now();
        let at = {
            let mut due = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let at = match due.get(quiz_id) {
                Some(&last) if last > now => return,
                Some(&last) => (last + EVERY).max(now),
                None => now,
            };
            // Forget quizzes long over so the map stays small.
            due.retain(|_, t| now.saturating_duration_since(*t) < Duration::from_secs(600));
            due.insert(quiz_id.to_owned(), at);
            at
        };
        let (state, quiz_id) = (state.clone(), quiz_id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            send(&state, &quiz_id).await;
        });
    }
}

async fn send(state: &AppState, quiz_id: &str) {
    let tally = match state.db().pool().acquire().await {
        Ok(mut conn) => quiz::tally(&mut conn, quiz_id).await,
        Err(e) => Err(e.into()),
    };
    match tally {
        Ok(Some((lesson_id, counts))) => {
            let mut notices = Notices::default();
            notices.staff(
                &lesson_id,
                RoomEvent::QuizTally {
                    quiz_id: quiz_id.to_owned(),
                    counts,
                },
            );
            publish(state, notices).await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "quiz tally not sent"),
    }
}
