//! The student's and the parent's side: drafts on this device, handing them in, the photo
//! size setting, and parents' sign-off.

use lianxiao_core::{Client, Draft, PhotoSize, WorkState, protocol::WorkKind};
use serde::Serialize;

use super::{
    DraftJson, Names, WorkJson,
    delivery::{self, HandinEnd},
    file_arg, kind_name, state_text,
};
use crate::{
    cli::DraftArgs,
    commands::notices::resolve_child,
    context::{Context, Delivery},
    exit::{CliResult, Exit, Failure},
    output::{human_bytes, local_time, print, print_json},
};

fn print_draft(ctx: &Context, draft: Option<&Draft>, json: bool) {
    if json {
        print_json(&draft.map(DraftJson::from));
        return;
    }
    let Some(d) = draft else {
        print("没有草稿 / no draft");
        return;
    };
    let mut lines = vec![ctx.out.paint("草稿 / draft", "1")];
    if d.text.is_empty() {
        lines.push("（没有文字 / no text）".to_owned());
    } else {
        lines.push(d.text.clone());
    }
    for (i, f) in d.files.iter().enumerate() {
        lines.push(format!(
            "{}. {} ({}, {})",
            i + 1,
            f.file_name,
            kind_name(f.kind),
            human_bytes(f.size)
        ));
    }
    print(lines.join("\n"));
}

/// A draft position as typed (1 = first) to its file id.
fn at(ids: &[i64], n: usize, option: &str) -> CliResult<i64> {
    n.checked_sub(1)
        .and_then(|i| ids.get(i))
        .copied()
        .ok_or_else(|| {
            Failure::validation(format!(
                "{option} {n}: the draft has {} file(s); positions start at 1",
                ids.len()
            ))
        })
}

pub async fn draft(ctx: &Context, client: &Client, args: DraftArgs) -> CliResult {
    let view = super::homework(client, &args.id).await?;
    let id = view.homework.id.clone();
    let hw = client.homework();
    if args.discard {
        hw.discard_draft(id).await?;
        if args.json {
            print_json(&serde_json::json!({ "discarded": true }));
        } else {
            print("草稿已删除 / draft discarded");
        }
        return Ok(());
    }
    let before = hw.draft(id.clone()).await?;
    let ids: Vec<i64> = before
        .as_ref()
        .map(|d| d.files.iter().map(|f| f.id).collect())
        .unwrap_or_default();
    // Check everything before changing anything: positions refer to the draft as it was.
    let removed = args
        .remove
        .iter()
        .map(|n| at(&ids, *n, "--remove"))
        .collect::<CliResult<Vec<i64>>>()?;
    let order = match args.move_file.as_deref() {
        Some(&[from, to]) => {
            let moved = at(&ids, from, "--move")?;
            at(&ids, to, "--move")?;
            let mut order = ids.clone();
            order.remove(from - 1);
            order.insert(to - 1, moved);
            order.retain(|i| !removed.contains(i));
            Some(order)
        }
        _ => None,
    };
    let added = args
        .add
        .iter()
        .map(|a| file_arg(a, "--add"))
        .collect::<CliResult<Vec<(String, WorkKind)>>>()?;
    for (_, kind) in &added {
        if !view.homework.accepted_kinds.contains(kind) {
            return Err(Failure::validation(format!(
                "--add: this homework does not accept {} work (it accepts {})",
                kind.as_str(),
                view.homework
                    .accepted_kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if let Some(text) = args.text {
        hw.set_draft_text(id.clone(), text).await?;
    }
    for file in removed {
        hw.remove_draft_file(id.clone(), file).await?;
    }
    if let Some(order) = order {
        hw.reorder_draft_files(id.clone(), order).await?;
    }
    for (path, kind) in added {
        hw.add_draft_file(id.clone(), path, kind).await?;
    }
    let draft = hw.draft(id).await?;
    print_draft(ctx, draft.as_ref(), args.json);
    Ok(())
}

pub async fn hand_in(ctx: &Context, client: &Client, id: &str, json: bool) -> CliResult {
    let view = super::homework(client, id).await?;
    let hw_id = view.homework.id.clone();
    // The uploader sends the files in the background; the outbox sender, the hand-in.
    ctx.start(client);
    let handin = client.homework().hand_in(hw_id.clone()).await?;
    let end = delivery::wait_handin(ctx, client, &hw_id, &handin.id).await?;
    let view = client.homework().get(hw_id).await?;
    let names = Names::load(client).await?;
    let work = view.work.first();
    let print_work = || {
        if let Some(w) = work {
            if json {
                print_json(&WorkJson::new(w, &names));
            } else {
                print(state_text(w).0);
            }
        }
    };
    match end {
        HandinEnd::Delivered => {
            if json {
                print_work();
            } else {
                let mut line = "已交 / handed in".to_owned();
                if let Some(WorkState::Delivered {
                    received_at,
                    attempt,
                    late,
                }) = work.map(|w| &w.state)
                {
                    line.push_str(&format!(
                        ": 服务器收到于 / received {} (第{attempt}次 attempt {attempt})",
                        local_time(*received_at)
                    ));
                    if *late {
                        line.push_str(" 迟交 / late");
                    }
                }
                print(line);
            }
            Ok(())
        }
        HandinEnd::Queued(h) => {
            print_work();
            let f = ctx.queued_failure(client);
            Err(Failure::new(
                f.exit,
                format!("{}{}", f.message, delivery::queued_note(&h)),
            ))
        }
        HandinEnd::Rejected(f) => Err(f),
    }
}

pub async fn sign_off(
    ctx: &Context,
    client: &Client,
    id: &str,
    child: Option<String>,
    note: String,
    json: bool,
) -> CliResult {
    let submission = match super::submission(client, id).await {
        Ok(s) => s,
        Err(f) if f.exit == Exit::NotFound => {
            // A homework id: the child's work on it.
            let view = super::homework(client, id).await.map_err(|_| f)?;
            let child_id = match child {
                Some(c) => Some(resolve_child(ctx, client, &c).await?),
                None => None,
            };
            let mut works: Vec<_> = view
                .work
                .into_iter()
                .filter(|w| child_id.as_ref().is_none_or(|c| &w.student_id == c))
                .collect();
            if works.len() > 1 {
                return Err(Failure::validation(
                    "这份作业布置给了你的几个孩子 / several of your children have this homework: \
                     say which with --child",
                ));
            }
            works.pop().and_then(|w| w.submission).ok_or_else(|| {
                Failure::new(
                    Exit::NotFound,
                    "还没有交 / nothing handed in for that homework yet",
                )
            })?
        }
        Err(f) => return Err(f),
    };
    let sub_id = submission.id.clone();
    client.homework().sign_off(sub_id.clone(), note).await?;
    match delivery::deliver_review(ctx, client, &sub_id, false, |s| s.sign_off.is_some()).await {
        Delivery::Delivered => {
            let s = client.homework().submission(sub_id).await?;
            if json {
                print_json(&s);
            } else {
                print(format!(
                    "已签字 / signed off: {} ({})",
                    s.student.name, s.homework_id
                ));
            }
            Ok(())
        }
        Delivery::Queued => Err(ctx.queued_failure(client)),
        Delivery::Rejected(f) => Err(f),
    }
}

#[derive(Serialize)]
struct PhotoSizeJson {
    /// Longest side in pixels, or null: photos are sent as they are.
    max_pixels: Option<u32>,
}

pub async fn photo_size(
    _ctx: &Context,
    client: &Client,
    size: Option<String>,
    json: bool,
) -> CliResult {
    let hw = client.homework();
    if let Some(size) = size {
        let size = match size.trim() {
            "original" => PhotoSize::Original,
            px => PhotoSize::MaxPixels(px.parse().map_err(|_| {
                Failure::validation("photo-size: a number of pixels (at least 320) or `original`")
            })?),
        };
        hw.set_photo_size(size).await?;
    }
    let max_pixels = match hw.photo_size().await? {
        PhotoSize::Original => None,
        PhotoSize::MaxPixels(px) => Some(px),
    };
    if json {
        print_json(&PhotoSizeJson { max_pixels });
    } else {
        print(match max_pixels {
            Some(px) => format!("照片最长边 / photos are shrunk to at most {px} px"),
            None => "照片原样发送 / photos are sent as they are".to_owned(),
        });
    }
    Ok(())
}
