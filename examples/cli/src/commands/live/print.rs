//! How the live room looks in a terminal: the session's state, the room's lines (hands,
//! stage, chat, mutes, quiz), only the new ones while following, and the room as JSON.

use lianxiao_core::{LiveRoom, LiveState, protocol::Quiz};
use serde::Serialize;

use crate::output::{local_time, print, print_json};

pub(super) fn letter(i: u32) -> char {
    char::from_u32(u32::from('A') + i).unwrap_or('?')
}

pub(super) fn quiz_text(q: &Quiz) -> String {
    let state = if q.closed_at.is_some() {
        "已结束 closed"
    } else {
        "进行中 open"
    };
    let mut text = format!("测验 / quiz ({state}): {}", q.question);
    for (i, option) in q.options.iter().enumerate() {
        let i = i as u32;
        let count = q
            .counts
            .get(i as usize)
            .map(|c| format!(" — {c}"))
            .unwrap_or_default();
        let right = if q.correct == Some(i) { " ✓" } else { "" };
        let mine = if q.my_answer == Some(i) {
            " (你的答案 yours)"
        } else {
            ""
        };
        text.push_str(&format!("\n  {}. {option}{count}{right}{mine}", letter(i)));
    }
    text.push_str(&format!("\nid {}", q.id));
    text
}

pub(super) fn state_label(s: &LiveState) -> String {
    match s {
        LiveState::Joining => "joining".into(),
        LiveState::Live { can_publish, .. } => {
            format!("live{}", if *can_publish { " (publishing)" } else { "" })
        }
        LiveState::Reconnecting { attempt } => format!("reconnecting (try {attempt})"),
        LiveState::FallbackToBroadcast { .. } => "watching the broadcast".into(),
        LiveState::Ended { cause } => format!("ended ({cause:?})"),
    }
}

pub(super) fn print_room(r: &LiveRoom) {
    for line in room_lines(r) {
        print(line);
    }
}

fn room_lines(r: &LiveRoom) -> Vec<String> {
    let mut lines = vec![
        format!(
            "举手 / hands: {}",
            r.hands
                .iter()
                .map(|h| h.user_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("台上 / on stage: {}", r.on_stage.join(", ")),
    ];
    for m in &r.chat {
        lines.push(format!(
            "[{}] {}: {}",
            local_time(m.sent_at),
            m.author_id,
            m.text
        ));
    }
    for u in &r.unsent_chat {
        lines.push(format!("[待发送 unsent] {}", u.text));
    }
    for m in &r.mutes {
        lines.push(format!(
            "禁言 / muted: {} until {}",
            m.user_id,
            local_time(m.until)
        ));
    }
    if let Some(q) = &r.quiz {
        lines.push(quiz_text(q));
    }
    lines
}

pub(super) fn print_changes(before: &LiveRoom, now: &LiveRoom) {
    let old = room_lines(before);
    for line in room_lines(now) {
        if !old.contains(&line) {
            print(line);
        }
    }
}

pub(super) fn show_room(r: &LiveRoom, json: bool) {
    if json {
        print_json(&RoomJson::from(r));
    } else {
        print_room(r);
    }
}

#[derive(Serialize)]
pub(super) struct RoomJson<'a> {
    lesson_id: &'a str,
    hands: &'a [lianxiao_core::protocol::RaisedHand],
    on_stage: &'a [String],
    chat: &'a [lianxiao_core::protocol::ChatMessage],
    mutes: &'a [lianxiao_core::protocol::Mute],
    quiz: Option<&'a Quiz>,
    unsent_chat: Vec<&'a str>,
}

impl<'a> From<&'a LiveRoom> for RoomJson<'a> {
    fn from(r: &'a LiveRoom) -> Self {
        RoomJson {
            lesson_id: &r.lesson_id,
            hands: &r.hands,
            on_stage: &r.on_stage,
            chat: &r.chat,
            mutes: &r.mutes,
            quiz: r.quiz.as_ref(),
            unsent_chat: r.unsent_chat.iter().map(|u| u.text.as_str()).collect(),
        }
    }
}
