//! Chapter 8: what happened, and a check that no phone kept or lost anything.

use anyhow::ensure;

use super::World;

pub async fn closing(w: &mut World) -> anyhow::Result<()> {
    w.chapter("总结", "Summary");
    for phone in w.phones() {
        let pending = phone.client.outbox_pending().await?;
        let failures = phone.client.outbox_failures().await?;
        ensure!(
            pending == 0 && failures.is_empty(),
            "{}: {pending} unsent and {} rejected item(s) left",
            phone.login,
            failures.len()
        );
    }
    for line in &w.recap {
        w.say.item(line);
    }
    w.say.note(
        &format!(
            "{} 部手机的发件箱全部送达，无一丢失、无一重复",
            w.phones().len()
        ),
        "every phone's outbox is empty: nothing lost, nothing applied twice",
    );
    w.say
        .note("演示完成", "demo finished; temporary files removed");
    Ok(())
}
