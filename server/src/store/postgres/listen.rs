//! The `LISTEN` side of the change fan-out: one dedicated connection (a pooler in transaction
//! mode cannot carry `LISTEN`; see the README), reconnected with a back-off when it breaks.
//! Every connect is reported as `None`: notifications may have been missed (before the first
//! `LISTEN` took effect the server had already loaded its caches, and an upload on another server
//! in between would be missed until the safety re-read), so the receiver re-reads everything.

use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_postgres::{AsyncMessage, NoTls};

use super::{PgStore, CHANNEL};
use crate::store::Notice;

/// Starts listening on the store's runtime; the task ends when the receiver is dropped.
pub fn start(store: &PgStore) -> UnboundedReceiver<Option<Notice>> {
    let (tx, rx) = unbounded_channel();
    let config = store.config.clone();
    let me = store.me.clone();
    store.runtime().spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while !tx.is_closed() {
            match listen_once(&config, &me, &tx).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!("change listener: {e}; reconnecting in {backoff:?}");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    rx
}

/// One connection's life: `LISTEN`, then forward notifications until it ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    me: &str,
    tx: &UnboundedSender<Option<Notice>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut conn) = config.connect(NoTls).await?;
    let (msg_tx, mut msgs) = unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = stream.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if msg_tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Whatever changed while no `LISTEN` was in effect: since the start-up load, or while the
    // last connection was down.
    let _ = tx.send(None);
    while let Some(payload) = msgs.recv().await {
        if let Some(change) = parse(&payload, me) {
            if tx.send(Some(change)).is_err() {
                break;
            }
        }
    }
    drop(client);
    match driver.await {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}

/// A notification of another process (`<process>\t<kind>\t…`); this process's own are `None`.
fn parse(payload: &str, me: &str) -> Option<Notice> {
    let mut parts = payload.split('\t');
    let from = parts.next()?;
    if from == me {
        return None;
    }
    let kind = parts.next()?;
    let site = parts.next()?.to_owned();
    match kind {
        "a" => Some(Notice::Active { site }),
        "v" => Some(Notice::Availability {
            site,
            skill: parts.next()?.to_owned(),
        }),
        "c" => Some(Notice::Campaign {
            site,
            id: parts.next()?.to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_and_foreign_notifications() {
        assert_eq!(parse("me\ta\tshop", "me"), None);
        assert_eq!(
            parse("you\ta\tshop", "me"),
            Some(Notice::Active {
                site: "shop".into()
            })
        );
        assert_eq!(
            parse("you\tv\tshop\tsales", "me"),
            Some(Notice::Availability {
                site: "shop".into(),
                skill: "sales".into()
            })
        );
        assert_eq!(parse("you\tc\tshop", "me"), None);
        assert_eq!(parse("garbage", "me"), None);
    }
}
