//! The notice story end to end through the real core and the real server: post, receive,
//! read, acknowledge (also offline), receipts, remind; a killed app resumes its outbox.

use std::time::Duration;

use lianxiao_core::{DeliveryState, ErrorCode, NoticeFilter};
use lianxiao_protocol::{NoticeAudience, PostNotice, Role};
use lianxiao_tests::{
    Backend, TestServer,
    logins::*,
    phone::{Phone, find},
};

fn server() -> TestServer {
    let server = TestServer::start(&Backend::from_env());
    server.import_demo_roster();
    server
}

fn notice(audience: NoticeAudience, title: &str, requires_ack: bool) -> PostNotice {
    PostNotice {
        title: title.to_owned(),
        body: format!("{title}：请家长知悉。"),
        audience,
        include_students: false,
        requires_ack,
        ack_deadline: None,
        urgent: false,
    }
}

/// Posts through the core and returns the server's id once the outbox delivered it.
async fn post_and_deliver(author: &Phone, post: PostNotice) -> String {
    let local = author.client.notices().post(post).await.expect("post");
    assert_eq!(
        local.post,
        DeliveryState::Pending,
        "shown at once, waiting to send"
    );
    let title = local.notice.title.clone();
    let list = author
        .wait_notices(|l| {
            l.iter()
                .any(|n| n.notice.title == title && n.post == DeliveryState::Delivered)
        })
        .await;
    list.iter()
        .find(|n| n.notice.title == title)
        .unwrap()
        .notice
        .id
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_story_post_receive_read_acknowledge_receipts_remind() {
    let server = server();
    let url = server.url();
    let admin = Phone::sign_in(&url, COUNTY_ADMIN).await;
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let li = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    let zhao = Phone::sign_in(&url, PARENT_TWO_CHILDREN).await;
    let sun = Phone::sign_in(&url, PARENT_MAIN_2).await;
    let yang = Phone::sign_in(&url, PARENT_HEKOU).await;
    // PARENT_NEVER_OPENS never signs in.

    // The county admin tells every family of the link group; it needs an acknowledgment.
    admin.client.sync_now().await.unwrap();
    let group = admin
        .client
        .link_groups()
        .await
        .unwrap()
        .pop()
        .expect("a link group");
    let id = post_and_deliver(
        &admin,
        notice(
            NoticeAudience::LinkGroup {
                link_group_id: group.id,
            },
            "联校开放日",
            true,
        ),
    )
    .await;

    // Every parent's phone gets it through the realtime channel, without asking.
    for phone in [&li, &zhao, &sun, &yang] {
        let list = phone.wait_notices(|l| find(l, &id).is_some()).await;
        let n = find(&list, &id).unwrap();
        assert!(n.unread);
        assert_eq!(n.acknowledged, DeliveryState::None);
    }
    let zhao_list = zhao
        .client
        .notices()
        .list(NoticeFilter::default())
        .await
        .unwrap();
    let receipt = find(&zhao_list, &id)
        .unwrap()
        .notice
        .receipt
        .clone()
        .unwrap();
    assert_eq!(receipt.role, Role::Parent);
    assert_eq!(receipt.children.len(), 2, "one notice naming both children");
    // Filtered by child: the notice concerns each of them.
    for child in zhao.client.children().await.unwrap() {
        let filter = NoticeFilter {
            child_id: Some(child.id),
            unread_first: false,
        };
        assert_eq!(zhao.client.notices().list(filter).await.unwrap().len(), 1);
    }

    li.client.notices().mark_read(id.clone()).await.unwrap();
    let acked = zhao.client.notices().acknowledge(id.clone()).await.unwrap();
    assert!(
        acked.acknowledged == DeliveryState::Pending
            || acked.acknowledged == DeliveryState::Delivered
    );
    sun.client.notices().acknowledge(id.clone()).await.unwrap();
    for phone in [&li, &zhao, &sun] {
        phone.outbox_drained().await;
    }
    let zhao_view = zhao.notice(&id).await;
    assert_eq!(zhao_view.acknowledged, DeliveryState::Delivered);
    assert!(zhao_view.acked_at.is_some());

    // The author's phone sees the counts through sync, then asks who has not acted.
    let list = admin
        .wait_notices(|l| {
            find(l, &id)
                .and_then(|n| n.summary.as_ref())
                .is_some_and(|s| s.acknowledged == 2 && s.read == 3)
        })
        .await;
    let summary = find(&list, &id).unwrap().summary.clone().unwrap();
    assert_eq!(summary.recipients, 5);
    let report = admin.client.notices().receipts(id.clone()).await.unwrap();
    let pending_ack: Vec<String> = report
        .classes
        .iter()
        .flat_map(|c| c.not_acknowledged.iter().map(|p| p.id.clone()))
        .collect();
    let pending_read: Vec<String> = report
        .classes
        .iter()
        .flat_map(|c| c.not_read.iter().map(|p| p.id.clone()))
        .collect();
    assert!(
        pending_ack.contains(&li.client.user_id()),
        "read, not acknowledged"
    );
    assert!(pending_ack.contains(&yang.client.user_id()));
    assert!(!pending_ack.contains(&zhao.client.user_id()));
    assert_eq!(
        pending_ack.len(),
        3,
        "li, yang, and the parent who never opens the app"
    );
    assert_eq!(pending_read.len(), 2);

    // Remind reaches the three who have not acknowledged; the others see nothing new.
    let result = admin.client.notices().remind(id.clone()).await.unwrap();
    assert_eq!(result.reminded, 3);
    yang.wait_notices(|l| find(l, &id).is_some_and(|n| n.reminded))
        .await;
    li.wait_notices(|l| find(l, &id).is_some_and(|n| n.reminded))
        .await;
    assert!(
        !zhao
            .client
            .notices()
            .get(id.clone())
            .await
            .unwrap()
            .reminded
    );
    let again = admin.client.notices().remind(id.clone()).await.unwrap_err();
    assert!(
        matches!(again.code(), ErrorCode::RateLimited { .. }),
        "{again:?}"
    );

    // A teacher's class notice reaches only that class's families.
    let classes = lead.class_ids().await;
    let class_notice = post_and_deliver(
        &lead,
        notice(
            NoticeAudience::Classes { class_ids: classes },
            "明天带雨伞",
            false,
        ),
    )
    .await;
    li.wait_notices(|l| find(l, &class_notice).is_some()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    yang.client.sync_now().await.unwrap();
    assert!(
        find(
            &yang
                .client
                .notices()
                .list(NoticeFilter::default())
                .await
                .unwrap(),
            &class_notice
        )
        .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgment_made_while_the_server_is_down_arrives_once_after_it_returns() {
    let mut server = server();
    let url = server.url();
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let li = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    let classes = lead.class_ids().await;
    let id = post_and_deliver(
        &lead,
        notice(
            NoticeAudience::Classes { class_ids: classes },
            "家长会回执",
            true,
        ),
    )
    .await;
    li.wait_notices(|l| find(l, &id).is_some()).await;

    server.stop();
    let view = li
        .client
        .notices()
        .acknowledge(id.clone())
        .await
        .expect("works offline");
    assert_eq!(
        view.acknowledged,
        DeliveryState::Pending,
        "acknowledged, waiting to send"
    );
    assert!(!view.unread);
    // Acknowledging again queues nothing more.
    li.client.notices().acknowledge(id.clone()).await.unwrap();
    assert_eq!(li.client.outbox_pending().await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(li.notice(&id).await.acknowledged, DeliveryState::Pending);

    server.restart();
    li.client.network_changed(true);
    li.outbox_drained().await;
    let view = li
        .wait_notices(|l| find(l, &id).is_some_and(|n| n.acknowledged == DeliveryState::Delivered))
        .await;
    let acked_at = find(&view, &id).unwrap().acked_at;
    assert!(li.client.outbox_failures().await.unwrap().is_empty());

    let report = lead.client.notices().receipts(id.clone()).await.unwrap();
    assert_eq!(report.summary.acknowledged, 1);
    assert_eq!(report.summary.read, 1);
    // Nothing applied twice: the server's time is the first and only acknowledgment.
    li.client.sync_now().await.unwrap();
    assert_eq!(
        li.client.notices().get(id).await.unwrap().acked_at,
        acked_at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_app_resumes_its_outbox_and_nothing_is_applied_twice() {
    let mut server = server();
    let url = server.url();
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let li = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    let classes = lead.class_ids().await;
    let first = post_and_deliver(
        &lead,
        notice(
            NoticeAudience::Classes {
                class_ids: classes.clone(),
            },
            "第一份",
            true,
        ),
    )
    .await;
    let second = post_and_deliver(
        &lead,
        notice(
            NoticeAudience::Classes { class_ids: classes },
            "第二份",
            true,
        ),
    )
    .await;
    li.wait_notices(|l| find(l, &first).is_some() && find(l, &second).is_some())
        .await;

    // Killed while the server is down: the acknowledgment is only on disk.
    server.stop();
    li.client
        .notices()
        .acknowledge(first.clone())
        .await
        .unwrap();
    let li = li.restart_app(&url).await;
    assert_eq!(
        li.client.outbox_pending().await.unwrap(),
        1,
        "the outbox survived the kill"
    );
    assert_eq!(li.notice(&first).await.acknowledged, DeliveryState::Pending);
    server.restart();
    li.client.network_changed(true);
    li.outbox_drained().await;

    // Killed right after acknowledging while online: whether or not the request went out, the
    // restarted app sends the same key, so the server applies it once.
    li.client
        .notices()
        .acknowledge(second.clone())
        .await
        .unwrap();
    let li = li.restart_app(&url).await;
    li.outbox_drained().await;
    li.wait_notices(|l| {
        [&first, &second]
            .iter()
            .all(|id| find(l, id).is_some_and(|n| n.acknowledged == DeliveryState::Delivered))
    })
    .await;

    for id in [&first, &second] {
        let report = lead.client.notices().receipts(id.clone()).await.unwrap();
        assert_eq!(report.summary.acknowledged, 1, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teachers_notice_written_offline_is_posted_once_when_the_server_returns() {
    let mut server = server();
    let url = server.url();
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let li = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    lead.client.sync_now().await.unwrap();
    let classes = lead.class_ids().await;
    server.stop();
    let local = lead
        .client
        .notices()
        .post(notice(
            NoticeAudience::Classes { class_ids: classes },
            "停电通知",
            false,
        ))
        .await
        .unwrap();
    assert_eq!(local.post, DeliveryState::Pending);
    let lead = lead.restart_app(&url).await;
    server.restart();
    lead.client.network_changed(true);
    let list = li
        .wait_notices(|l| l.iter().any(|n| n.notice.title == "停电通知"))
        .await;
    assert_eq!(
        list.iter().filter(|n| n.notice.title == "停电通知").count(),
        1
    );
    let mine = lead
        .wait_notices(|l| {
            l.iter()
                .any(|n| n.notice.title == "停电通知" && n.post == DeliveryState::Delivered)
        })
        .await;
    assert_eq!(
        mine.iter().filter(|n| n.notice.title == "停电通知").count(),
        1,
        "the local copy was replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_mutation_leaves_the_queue_and_is_shown_while_the_rest_is_delivered() {
    let server = server();
    let url = server.url();
    let lead = Phone::sign_in(&url, LEAD_TEACHER).await;
    let li = Phone::sign_in(&url, PARENT_ONE_CHILD).await;
    let classes = lead.class_ids().await;
    let id = post_and_deliver(
        &lead,
        notice(
            NoticeAudience::Classes {
                class_ids: classes.clone(),
            },
            "回执",
            true,
        ),
    )
    .await;
    li.wait_notices(|l| find(l, &id).is_some()).await;

    // A class the teacher does not teach: the server says forbidden, for good.
    lead.client
        .notices()
        .post(notice(
            NoticeAudience::Classes {
                class_ids: vec!["not-my-class".into()],
            },
            "发错班级",
            false,
        ))
        .await
        .unwrap();
    let ok = lead
        .client
        .notices()
        .post(notice(
            NoticeAudience::Classes { class_ids: classes },
            "正常通知",
            false,
        ))
        .await
        .unwrap();
    lead.outbox_drained().await;
    let failures = lead.client.outbox_failures().await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].notice_title.as_deref(), Some("发错班级"));
    let list = lead
        .client
        .notices()
        .list(NoticeFilter::default())
        .await
        .unwrap();
    assert!(
        list.iter()
            .any(|n| n.notice.title == ok.notice.title && n.post == DeliveryState::Delivered),
        "not stalled behind the bad one"
    );
    assert!(
        list.iter()
            .any(|n| n.notice.title == "发错班级" && n.post == DeliveryState::Failed)
    );
    lead.client.dismiss_failure(failures[0].id).await.unwrap();
    assert!(lead.client.outbox_failures().await.unwrap().is_empty());
    assert!(
        !lead
            .client
            .notices()
            .list(NoticeFilter::default())
            .await
            .unwrap()
            .iter()
            .any(|n| n.notice.title == "发错班级")
    );
}
