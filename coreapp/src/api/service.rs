//! The gRPC service: proto in, domain call, proto out. No logic here.

use std::sync::Arc;

use proto::core::core_server::Core as CoreRpc;
use proto::core::*;
use tonic::{Request, Response, Status};
use wire::ApiError;

use crate::api::{accounts, admin, contacts, messages, settings};
use crate::store::revocations::Revocation;
use crate::{Core, media_files};

use proto::core::media_chunk::Part;

pub struct Service {
    core: Arc<Core>,
}

impl Service {
    pub fn new(core: Arc<Core>) -> Self {
        Service { core }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn user_reply((username, role): (String, wire::users::Role)) -> Response<UserReply> {
    Response::new(UserReply { username, role: role.as_str().into() })
}

fn settings_reply(core: &Core, s: &wire::settings::ApplicationSettings) -> Response<SettingsReply> {
    Response::new(proto::settings::to_proto(s, core.health.wa_id().as_deref()))
}

/// What a download streams: the file's chunks, or the status of a failed read.
type MediaStream = tokio_stream::wrappers::ReceiverStream<Result<MediaChunk, Status>>;

fn chunk(part: Part) -> MediaChunk {
    MediaChunk { part: Some(part) }
}

/// Hands the `data` chunks of an upload stream to the writer, until `end`
/// (whose size must match). A stream that stops early, or fails, reaches
/// the writer as an error, so a partial file is never stored.
async fn pump_upload(
    mut stream: tonic::Streaming<MediaChunk>,
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
) {
    let mut total = 0u64;
    let problem = loop {
        match stream.message().await {
            Ok(Some(MediaChunk { part: Some(Part::Data(data)) })) => {
                total += data.len() as u64;
                if tx.send(Ok(data)).await.is_err() {
                    return; // the writer stopped: it has its own error
                }
            }
            Ok(Some(MediaChunk { part: Some(Part::End(end)) })) if end.size == total => return,
            Ok(Some(MediaChunk { part: Some(Part::End(end)) })) => {
                break format!("upload said it sent {} bytes, {total} arrived", end.size);
            }
            Ok(Some(_)) => break "unexpected message in an upload".to_string(),
            Ok(None) => break "upload stream ended before its end".to_string(),
            Err(status) => break format!("upload stream failed: {}", status.message()),
        }
    };
    let _ = tx.send(Err(media_files::interrupted(problem))).await;
}

#[tonic::async_trait]
impl CoreRpc for Service {
    async fn login(&self, req: Request<LoginRequest>) -> Reply<LoginReply> {
        let r = req.into_inner();
        let limit = self.core.config.login_failures_per_hour;
        let done = accounts::login(&self.core.db, r.username, r.password, r.new_password, r.client, limit).await?;
        Ok(Response::new(LoginReply {
            username: done.username,
            role: done.role.as_str().into(),
            revoked_up_to_ms: done.revoked_up_to_ms,
        }))
    }

    async fn auth_config(&self, _: Request<Empty>) -> Reply<AuthConfigReply> {
        let jwt_key = accounts::jwt_key(&self.core.db).await?;
        Ok(Response::new(AuthConfigReply { jwt_key }))
    }

    async fn revoke_token(&self, req: Request<RevokeTokenRequest>) -> Reply<Empty> {
        let r = req.into_inner();
        let row = Revocation {
            id: wire::ids::message_id(),
            token_id: r.token_id,
            username: r.username,
            issued_before_ms: r.issued_before_ms,
            expires_at_ms: r.expires_at_ms,
            created_at: crate::store::db::now_ms(),
        };
        accounts::revoke(&self.core.db, row).await?;
        Ok(Response::new(Empty {}))
    }

    async fn list_revocations(&self, _: Request<Empty>) -> Reply<RevocationList> {
        let (rows, users) = accounts::auth_state(&self.core.db).await?;
        let revocations = rows
            .into_iter()
            .map(|r| proto::core::Revocation {
                token_id: r.token_id,
                username: r.username,
                issued_before_ms: r.issued_before_ms,
            })
            .collect();
        let users =
            users.into_iter().map(|(username, role)| UserReply { username, role: role.as_str().into() }).collect();
        Ok(Response::new(RevocationList { revocations, users }))
    }

    async fn create_user(&self, req: Request<UserRequest>) -> Reply<UserReply> {
        let r = req.into_inner();
        accounts::create_user(&self.core.db, r.username.clone(), r.password).await?;
        Ok(user_reply((r.username, wire::users::Role::User)))
    }

    async fn get_user(&self, req: Request<UserName>) -> Reply<UserReply> {
        Ok(user_reply(accounts::get_user(&self.core.db, req.into_inner().username).await?))
    }

    async fn update_user(&self, req: Request<UserRequest>) -> Reply<UserReply> {
        let r = req.into_inner();
        accounts::update_password(&self.core.db, r.username.clone(), r.password).await?;
        Ok(Response::new(UserReply { username: r.username, role: String::new() }))
    }

    async fn delete_user(&self, req: Request<UserName>) -> Reply<UserReply> {
        let name = req.into_inner().username;
        accounts::delete_user(&self.core.db, name.clone()).await?;
        Ok(Response::new(UserReply { username: name, role: String::new() }))
    }

    async fn get_settings(&self, _: Request<Empty>) -> Reply<SettingsReply> {
        let s = settings::get_settings(&self.core).await?;
        Ok(settings_reply(&self.core, &s))
    }

    async fn patch_settings(&self, req: Request<proto::core::SettingsPatch>) -> Reply<SettingsReply> {
        let patch = proto::settings::patch_from_proto(req.into_inner()).map_err(|e| proto::errors::status(&e))?;
        let s = settings::patch_settings(&self.core, patch).await?;
        Ok(settings_reply(&self.core, &s))
    }

    async fn reset_settings(&self, _: Request<Empty>) -> Reply<SettingsReply> {
        let s = settings::reset_settings(&self.core).await?;
        Ok(settings_reply(&self.core, &s))
    }

    async fn health(&self, _: Request<Empty>) -> Reply<HealthReply> {
        let (here, nodes) = crate::health::cluster(&self.core).await?;
        let now = crate::store::db::now_ms();
        Ok(Response::new(HealthReply {
            gateway_status: here.status.into(),
            node_id: self.core.config.node_id.clone(),
            errors: here.errors.into_iter().map(|(code, details)| HealthError { code, details }).collect(),
            nodes: nodes
                .into_iter()
                .map(|(n, alive)| NodeHealth {
                    node_id: n.node_id,
                    gateway_status: n.gateway_status,
                    heartbeat_age_ms: now - n.heartbeat_at,
                    alive,
                })
                .collect(),
        }))
    }

    async fn ping(&self, _: Request<Empty>) -> Reply<PingReply> {
        Ok(Response::new(PingReply { node_id: self.core.config.node_id.clone(), ready: self.core.health.db_ok() }))
    }

    async fn send_message(&self, req: Request<SendMessageRequest>) -> Reply<SendMessageReply> {
        let r = req.into_inner();
        let message_id = messages::send(&self.core, r.message_id, r.recipient, r.message).await?;
        Ok(Response::new(SendMessageReply { message_id }))
    }

    async fn mark_read(&self, req: Request<MessageId>) -> Reply<Empty> {
        messages::mark_read(&self.core, req.into_inner().message_id).await?;
        Ok(Response::new(Empty {}))
    }

    async fn check_contacts(&self, req: Request<CheckContactsRequest>) -> Reply<ContactResults> {
        let r = req.into_inner();
        let results = contacts::check_contacts(&self.core, r.contacts, r.force_check).await?;
        Ok(Response::new(proto::contacts::results_to_proto(&results)))
    }

    async fn get_identity(&self, req: Request<WaId>) -> Reply<IdentityKey> {
        let identity = contacts::identity(&self.core.db, req.into_inner().wa_id).await?;
        Ok(Response::new(proto::contacts::identity_to_proto(&identity)))
    }

    async fn acknowledge_identity(&self, req: Request<AcknowledgeIdentityRequest>) -> Reply<Empty> {
        let r = req.into_inner();
        contacts::acknowledge_identity(&self.core.db, r.wa_id, r.hash).await?;
        Ok(Response::new(Empty {}))
    }

    async fn ingest_cloud_webhook(&self, req: Request<CloudWebhook>) -> Reply<Empty> {
        messages::ingest(&self.core, req.into_inner().body).await?;
        Ok(Response::new(Empty {}))
    }

    async fn set_webhook_ca(&self, req: Request<Pem>) -> Reply<Empty> {
        settings::set_webhook_ca(&self.core, req.into_inner().pem).await?;
        Ok(Response::new(Empty {}))
    }

    async fn get_webhook_ca(&self, _: Request<Empty>) -> Reply<Pem> {
        Ok(Response::new(Pem { pem: settings::webhook_ca(&self.core).await? }))
    }

    async fn delete_webhook_ca(&self, _: Request<Empty>) -> Reply<Empty> {
        settings::delete_webhook_ca(&self.core).await?;
        Ok(Response::new(Empty {}))
    }

    async fn upload_media(&self, req: Request<tonic::Streaming<MediaChunk>>) -> Reply<MediaId> {
        let mut stream = req.into_inner();
        let mime_type = match stream.message().await? {
            Some(MediaChunk { part: Some(Part::Info(info)) }) => info.mime_type,
            _ => return Err(proto::errors::status(&ApiError::invalid("an upload starts with its media info"))),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(media_files::CHUNKS_IN_FLIGHT);
        let (_, stored) = tokio::join!(pump_upload(stream, tx), media_files::upload(&self.core, mime_type, rx));
        Ok(Response::new(MediaId { media_id: stored? }))
    }

    type DownloadMediaStream = MediaStream;

    async fn download_media(&self, req: Request<MediaId>) -> Reply<MediaStream> {
        let (row, file) = media_files::open(&self.core, req.into_inner().media_id).await?;
        let size = file.metadata().map_err(|e| crate::error::CoreError::Internal(e.into()))?.len();
        let info = MediaInfo { mime_type: row.mime_type.clone(), filename: media_files::file_name(&row), size };
        let (tx, rx) = tokio::sync::mpsc::channel(media_files::CHUNKS_IN_FLIGHT);
        // The reader blocks on the channel when the client is slower than
        // the disk, so at most a few chunks are in memory.
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            if tx.blocking_send(Ok(chunk(Part::Info(info)))).is_err() {
                return;
            }
            let mut file = file;
            loop {
                let mut buf = vec![0u8; media::CHUNK];
                match file.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(chunk(Part::Data(buf.into())))).is_err() {
                            return; // the client went away
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::error!(error = %e, "reading a media file failed");
                        let _ = tx.blocking_send(Err(Status::internal("reading the media file failed")));
                        return;
                    }
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn delete_media(&self, req: Request<MediaId>) -> Reply<Empty> {
        media_files::delete(&self.core, req.into_inner().media_id).await?;
        Ok(Response::new(Empty {}))
    }

    async fn stats(&self, _: Request<Empty>) -> Reply<NodeMetrics> {
        let families = crate::metrics::app_families(&self.core).await?;
        Ok(Response::new(proto::metrics::to_proto(&self.core.config.node_id, &families)))
    }

    async fn db_stats(&self, _: Request<Empty>) -> Reply<NodeMetrics> {
        let families = crate::metrics::db_families(&self.core).await?;
        Ok(Response::new(proto::metrics::to_proto(&self.core.config.node_id, &families)))
    }

    async fn support(&self, _: Request<Empty>) -> Reply<JsonDoc> {
        Ok(Response::new(JsonDoc { json: crate::api::support::info(&self.core).await?.to_string() }))
    }

    async fn get_web_certificate(&self, _: Request<Empty>) -> Reply<WebCertificate> {
        let (cert_pem, key_pem, ca_pem) = admin::web_certificate(&self.core).await?.unwrap_or_default();
        Ok(Response::new(WebCertificate { cert_pem, key_pem, ca_pem }))
    }

    async fn set_web_certificate(&self, req: Request<WebCertificate>) -> Reply<Empty> {
        let r = req.into_inner();
        // The webapp checked the bundle; a coreapp checks again, it owns the store.
        let bundle = admin::split_bundle(&format!("{}{}{}", r.key_pem, r.cert_pem, r.ca_pem))
            .map_err(|e| proto::errors::status(&e))?;
        admin::set_web_certificate(&self.core, bundle.cert_pem, bundle.key_pem, bundle.ca_pem).await?;
        Ok(Response::new(Empty {}))
    }

    async fn get_profile(&self, _: Request<Empty>) -> Reply<JsonDoc> {
        Ok(Response::new(JsonDoc { json: admin::profile(&self.core).await?.to_string() }))
    }

    async fn update_profile(&self, req: Request<JsonDoc>) -> Reply<Empty> {
        let fields = serde_json::from_str(&req.into_inner().json)
            .map_err(|_| proto::errors::status(&ApiError::invalid("unreadable profile fields")))?;
        admin::update_profile(&self.core, fields).await?;
        Ok(Response::new(Empty {}))
    }

    async fn set_profile_photo(&self, req: Request<Photo>) -> Reply<Empty> {
        let r = req.into_inner();
        admin::set_photo(&self.core, r.mime_type, r.data).await?;
        Ok(Response::new(Empty {}))
    }

    async fn get_profile_photo(&self, req: Request<PhotoRequest>) -> Reply<Photo> {
        let (link, mime_type, data) = admin::photo(&self.core, req.into_inner().with_bytes).await?;
        Ok(Response::new(Photo { mime_type, data, link }))
    }

    async fn get_compliance_info(&self, _: Request<Empty>) -> Reply<JsonDoc> {
        Ok(Response::new(JsonDoc { json: admin::compliance_info(&self.core).await?.to_string() }))
    }

    async fn set_compliance_info(&self, req: Request<JsonDoc>) -> Reply<Empty> {
        let body = serde_json::from_str(&req.into_inner().json)
            .map_err(|_| proto::errors::status(&ApiError::invalid("unreadable compliance information")))?;
        admin::set_compliance_info(&self.core, body).await?;
        Ok(Response::new(Empty {}))
    }

    async fn set_two_step_pin(&self, req: Request<Pin>) -> Reply<Empty> {
        admin::set_pin(&self.core, req.into_inner().pin).await?;
        Ok(Response::new(Empty {}))
    }

    async fn get_account(&self, _: Request<Empty>) -> Reply<JsonDoc> {
        Ok(Response::new(JsonDoc { json: admin::account(&self.core).await?.to_string() }))
    }

    async fn get_shards(&self, _: Request<Empty>) -> Reply<Shards> {
        Ok(Response::new(Shards { shards: admin::shards(&self.core).await? }))
    }

    async fn set_shards(&self, req: Request<Shards>) -> Reply<Empty> {
        admin::set_shards(&self.core, req.into_inner().shards).await?;
        Ok(Response::new(Empty {}))
    }

    async fn list_media_providers(&self, _: Request<Empty>) -> Reply<MediaProviders> {
        let providers = admin::providers(&self.core).await?;
        // Secrets never leave the coreapp.
        let providers = providers.iter().map(|p| proto::providers::to_proto(&p.masked())).collect();
        Ok(Response::new(MediaProviders { providers }))
    }

    async fn put_media_provider(&self, req: Request<MediaProvider>) -> Reply<Empty> {
        let provider = proto::providers::from_proto(req.into_inner()).map_err(|e| proto::errors::status(&e))?;
        admin::put_provider(&self.core, provider).await?;
        Ok(Response::new(Empty {}))
    }

    async fn delete_media_provider(&self, req: Request<Name>) -> Reply<Empty> {
        admin::delete_provider(&self.core, req.into_inner().name).await?;
        Ok(Response::new(Empty {}))
    }

    async fn backup(&self, req: Request<BackupRequest>) -> Reply<BackupReply> {
        let data = crate::api::backup::backup(&self.core, req.into_inner().password).await?;
        Ok(Response::new(BackupReply { data }))
    }

    async fn restore(&self, req: Request<RestoreRequest>) -> Reply<Empty> {
        let r = req.into_inner();
        crate::api::backup::restore(&self.core, r.password, r.data).await?;
        Ok(Response::new(Empty {}))
    }

    async fn purge_messages(&self, req: Request<PurgeRequest>) -> Reply<PurgeReply> {
        let deleted = admin::purge_messages(&self.core, req.into_inner().before_ms).await?;
        Ok(Response::new(PurgeReply { deleted }))
    }

    async fn collect_garbage(&self, req: Request<GarbageRequest>) -> Reply<Empty> {
        use crate::engine::gc;
        let collector = match req.into_inner().collector() {
            Collector::Messages => gc::Collector::Messages,
            Collector::Media => gc::Collector::Media,
            Collector::Unspecified => return Err(proto::errors::status(&ApiError::missing("collector"))),
        };
        gc::start_on_request(self.core.clone(), collector);
        Ok(Response::new(Empty {}))
    }

    async fn put_web_certificate_if_absent(&self, req: Request<WebCertificate>) -> Reply<WebCertificate> {
        let r = req.into_inner();
        if r.cert_pem.is_empty() || r.key_pem.is_empty() {
            return Err(proto::errors::status(&ApiError::missing("cert_pem")));
        }
        let (cert_pem, key_pem) = self
            .core
            .db
            .run(move |conn| {
                let now = crate::store::db::now_ms();
                Ok(crate::store::certs::put_if_absent(conn, crate::store::certs::WEBAPP, &r.cert_pem, &r.key_pem, now)?)
            })
            .await?;
        let ca_pem = cert_pem.clone();
        Ok(Response::new(WebCertificate { cert_pem, key_pem, ca_pem }))
    }
}
