//! The development sink: a push is a line in the server's log (ids only, never the token or
//! the text).

use futures::future::BoxFuture;

use super::{Message, Provider, SendError};

pub struct LogSink;

impl Provider for LogSink {
    fn send<'a>(
        &'a self,
        _token: &'a str,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            tracing::info!(
                push = %message.uuid,
                kind = message.data.kind.as_str(),
                id = %message.data.id,
                account = %message.data.account_id,
                badge = message.data.badge,
                "push (log sink)"
            );
            Ok(())
        })
    }
}
