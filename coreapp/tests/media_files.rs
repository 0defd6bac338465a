//! The media file protocol under contention: two nodes (two connection
//! pools on one database, one shared volume) upload identical bytes and
//! delete ids at the same time. No media row may ever be left without its
//! file, and once every id is gone no file may stay.

use std::sync::{Arc, Mutex};

use coreapp::config::DbConfig;
use coreapp::store::db::{Db, migrate, now_ms};
use coreapp::store::media::{self, Media};

struct Node {
    db: Db,
    store: ::media::MediaStore,
}

const CONTENTS: [&[u8]; 2] = [b"first content", b"second content"];
const ROUNDS: usize = 300;
/// Uploaders and deleters per node.
const WORKERS: usize = 3;

async fn upload(node: &Node, content: &'static [u8]) -> String {
    let store = node.store.clone();
    node.db
        .run(move |conn| {
            let written = store.write(content, 1024).map_err(anyhow::Error::from)?;
            let now = now_ms();
            let mut row = Media::inbound(uuid::Uuid::new_v4().to_string(), "text/plain".into(), None, now);
            row.origin = media::ORIGIN_UPLOAD.into();
            row.blob_sha256 = Some(written.stored.sha256.clone());
            row.size = Some(written.stored.size as i64);
            let id = row.id.clone();
            media::commit_upload(conn, &store, written, &row, now)?;
            Ok(id)
        })
        .await
        .unwrap()
}

async fn delete(node: &Node, id: String) {
    let store = node.store.clone();
    node.db
        .run(move |conn| {
            if let Some(row) = media::delete(conn, &id)? {
                media::reclaim_blob(conn, &store, row.blob_sha256.as_deref().unwrap(), now_ms())?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// Every media row's file is on the volume.
async fn check_no_row_lacks_its_file(node: &Node) {
    let store = node.store.clone();
    let missing = node
        .db
        .run(move |conn| {
            use coreapp::store::schema::media::dsl as m;
            use diesel::prelude::*;
            let shas: Vec<Option<String>> = m::media.select(m::blob_sha256).load(conn)?;
            Ok(shas.into_iter().flatten().filter(|sha| !store.contains(sha)).count())
        })
        .await
        .unwrap();
    assert_eq!(missing, 0, "media rows without their file");
}

async fn contend(nodes: Vec<Arc<Node>>) {
    let live: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, node) in nodes.iter().flat_map(|n| std::iter::repeat_n(n, WORKERS)).enumerate() {
        let (uploader, uploaded) = (node.clone(), live.clone());
        tasks.spawn(async move {
            for i in 0..ROUNDS {
                let content = CONTENTS[(i + n) % CONTENTS.len()];
                let id = upload(&uploader, content).await;
                // Nobody may delete this id yet, so its file must be there.
                let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content));
                assert!(uploader.store.contains(&sha), "upload {i} of node {n}: committed without its file");
                uploaded.lock().unwrap().push(id);
            }
        });
        let (deleter, deletable) = (node.clone(), live.clone());
        tasks.spawn(async move {
            for _ in 0..ROUNDS {
                let next = deletable.lock().unwrap().pop();
                match next {
                    Some(id) => delete(&deleter, id).await,
                    None => tokio::task::yield_now().await,
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    check_no_row_lacks_its_file(&nodes[0]).await;

    let rest: Vec<String> = live.lock().unwrap().drain(..).collect();
    for id in rest {
        delete(&nodes[0], id).await;
    }
    // Ids deleted by the other loop may still hold rows; clear them too.
    let node = nodes[0].clone();
    let leftover: Vec<String> = node
        .db
        .run(|conn| {
            use coreapp::store::schema::media::dsl as m;
            use diesel::prelude::*;
            Ok(m::media.select(m::id).load(conn)?)
        })
        .await
        .unwrap();
    for id in leftover {
        delete(&node, id).await;
    }
    let store = node.store.clone();
    let unused = node.db.run(|conn| Ok(media::unreferenced_blobs(conn, 10)?)).await.unwrap();
    assert!(unused.is_empty(), "file rows left: {unused:?}");
    for content in CONTENTS {
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content));
        assert!(!store.contains(&sha), "a file stayed with no id using it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_mysql_nodes_never_lose_a_file_or_keep_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = coreapp::testing::mysql_config();
    migrate(&config).expect("migrations (is MariaDB running on 127.0.0.1:3306?)");
    let store = ::media::MediaStore::open(dir.path()).unwrap();
    let nodes = (0..2).map(|_| Arc::new(Node { db: Db::connect(&config, 4).unwrap(), store: store.clone() })).collect();
    contend(nodes).await;
    coreapp::store::db::drop_server_database(&config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_never_loses_a_file_or_keeps_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = DbConfig::Sqlite { path: dir.path().join("m.db") };
    migrate(&config).unwrap();
    let store = ::media::MediaStore::open(dir.path().join("media")).unwrap();
    let node = Arc::new(Node { db: Db::connect(&config, 1).unwrap(), store });
    contend(vec![node.clone(), node]).await;
}

/// The interleaving the lock exists for, made on purpose: an upload of
/// bytes already on the volume has placed its file and not yet committed
/// its row when another node reclaims the file (its last id was just
/// deleted). The reclaim must wait for the upload and then keep the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reclaim_waits_for_an_upload_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let config = coreapp::testing::mysql_config();
    migrate(&config).expect("migrations (is MariaDB running on 127.0.0.1:3306?)");
    let store = ::media::MediaStore::open(dir.path()).unwrap();
    let (a, b) = (Db::connect(&config, 2).unwrap(), Db::connect(&config, 2).unwrap());
    let node_a = Node { db: a.clone(), store: store.clone() };
    let first = upload(&node_a, CONTENTS[0]).await;
    a.run(move |conn| Ok(media::delete(conn, &first)?)).await.unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(CONTENTS[0]));

    let (placed_tx, placed_rx) = tokio::sync::oneshot::channel();
    let (upload_store, upload_sha) = (store.clone(), sha.clone());
    let uploading = a.run(move |conn| {
        coreapp::store::db::transaction(conn, |conn| {
            let now = now_ms();
            media::lock_blob(conn, &upload_sha, now)?;
            let written = upload_store.write(CONTENTS[0], 1024).map_err(anyhow::Error::from)?;
            upload_store.place(written).map_err(anyhow::Error::from)?;
            let _ = placed_tx.send(());
            // The other node reclaims now, while this row is uncommitted.
            std::thread::sleep(std::time::Duration::from_millis(500));
            let mut row = Media::inbound(uuid::Uuid::new_v4().to_string(), "text/plain".into(), None, now);
            row.blob_sha256 = Some(upload_sha.clone());
            media::insert(conn, &row)?;
            Ok(())
        })
    });
    let (reclaim_store, reclaim_sha) = (store.clone(), sha.clone());
    let reclaiming = async move {
        placed_rx.await.unwrap();
        b.run(move |conn| media::reclaim_blob(conn, &reclaim_store, &reclaim_sha, now_ms())).await.unwrap()
    };
    let (uploaded, removed) = tokio::join!(uploading, reclaiming);
    uploaded.unwrap();
    assert!(!removed, "the reclaim removed a file an upload was committing");
    assert!(store.contains(&sha), "the new row's file is gone");
    coreapp::store::db::drop_server_database(&config).unwrap();
}
